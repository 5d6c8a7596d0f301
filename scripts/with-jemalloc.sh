#!/bin/sh
# Runs a command (the server: `npm start`, the container image) with jemalloc as its memory
# allocator when the system has it (Debian: libjemalloc2), and as it is otherwise.
#
# Why: glibc keeps memory freed in the middle of its heap for reuse and returns it to the system
# only from the top, so after a flood of connections or request bodies the freed socket buffers
# (64 KiB per read) stayed resident: 296-324 MB 30 s after the floods of bench section 7, against
# a goal of 250 MB. jemalloc returns freed pages after a few seconds; with its background thread it
# does so while the process is idle too (docs/performance.md, Memory).
#
# SECRETGATE_ALLOCATOR=glibc keeps glibc's allocator. `exec`, so the command keeps this process
# (and its signals); POSIX sh, as the image has no bash.
set -eu
if [ "${SECRETGATE_ALLOCATOR:-jemalloc}" != glibc ]; then
  for library in /usr/lib/*-linux-gnu/libjemalloc.so.2 /usr/lib64/libjemalloc.so.2 /usr/lib/libjemalloc.so.2; do
    if [ -r "$library" ]; then
      LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$library"
      MALLOC_CONF="${MALLOC_CONF:-background_thread:true}"
      export LD_PRELOAD MALLOC_CONF
      break
    fi
  done
fi
exec "$@"
