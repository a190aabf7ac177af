#!/bin/sh
# raw.cdb was made by tinycdb (not postmap, which refuses non-UTF-8 input):
# a non-UTF-8 key "bad\377" and a non-UTF-8 value for k2. Postfix
# (smtputf8_enable=yes) does not find the key and fails the query for k2
# ("non-UTF-8 value", query error); TestNonUTF8 checks ours and postmap's.
printf '+4,2:bad\377->v1\n+2,4:k2->v\377x2\n+2,2:k3->v3\n\n' | cdb -c raw.cdb
