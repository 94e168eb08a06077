# bh_require.m4 — find a required library or stop with one line naming the Debian package.
#
# BH_REQUIRE_LIB(VAR, HEADER, LIB, FUNCTION, DEBIAN-PACKAGE, [OTHER-LIBS], [PKG-CONFIG-NAME])
#   Sets VAR_CFLAGS and VAR_LIBS (from pkg-config when PKG-CONFIG-NAME is given and known,
#   else -lLIB), checks that HEADER compiles and FUNCTION links, or fails with
#   "configure: error: LIB not found: apt-get install DEBIAN-PACKAGE".
AC_DEFUN([BH_REQUIRE_LIB], [
  m4_ifval([$7], [
    PKG_CHECK_MODULES([$1], [$7], [], [
      $1_CFLAGS=""
      $1_LIBS="-l$3"
    ])
  ], [
    $1_LIBS="-l$3"
  ])
  bh_save_CPPFLAGS="$CPPFLAGS"
  bh_save_LIBS="$LIBS"
  CPPFLAGS="$CPPFLAGS $$1_CFLAGS"
  LIBS="$$1_LIBS $6 $LIBS"
  AC_CHECK_HEADER([$2], [], [AC_MSG_ERROR([$2 not found: apt-get install $5])])
  AC_MSG_CHECKING([for $4 in $$1_LIBS])
  AC_LINK_IFELSE([AC_LANG_CALL([], [$4])], [AC_MSG_RESULT([yes])], [
    AC_MSG_RESULT([no])
    AC_MSG_ERROR([lib$3 not found (no $4): apt-get install $5])
  ])
  CPPFLAGS="$bh_save_CPPFLAGS"
  LIBS="$bh_save_LIBS"
  AC_SUBST([$1_CFLAGS])
  AC_SUBST([$1_LIBS])
])
