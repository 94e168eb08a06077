/* fuzz_util.c — see fuzz_util.h. */
#include "fuzz/fuzz_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char folder[4096];
static char paths[4][4200];
static char names[4][64];

/* Best effort (an input that crashes the target skips it): the folder and everything in it. */
static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[4400];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      if (unlink(p) != 0) remove_tree(p);
    }
  closedir(d);
  rmdir(dir);
}

static void remove_folder(void) { remove_tree(folder); }

static void make_folder(void) {
  /* run.sh points BH_FUZZ_TMP at a folder of its own and removes it afterwards: an input that
   * crashes the target skips the atexit clean-up below. */
  const char *base = getenv("BH_FUZZ_TMP");
  if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(folder, sizeof folder, "%s/bh_fuzz_XXXXXX", base);
  if (!mkdtemp(folder)) {
    perror("fuzz: mkdtemp");
    abort();
  }
  atexit(remove_folder);
}

/* A slot per distinct name (a target uses at most four files). */
static char *slot(const char *name) {
  for (int i = 0; i < 4; i++)
    if (strcmp(names[i], name) == 0) return paths[i];
  for (int i = 0; i < 4; i++)
    if (!names[i][0]) {
      snprintf(names[i], sizeof names[i], "%s", name);
      snprintf(paths[i], sizeof paths[i], "%s/%s", folder, name);
      return paths[i];
    }
  abort();
}

const char *fz_dir(void) {
  if (!folder[0]) make_folder();
  return folder;
}

const char *fz_file(const char *name, const void *data, size_t n) {
  if (!folder[0]) make_folder();
  char *path = slot(name);
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
    perror(path);
    abort();
  }
  return path;
}

uint32_t fz_le32(const uint8_t *p, size_t avail) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4 && i < avail; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
