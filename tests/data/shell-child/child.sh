#!/bin/sh
# A runner protocol child (docs/runner-protocol.md) in POSIX shell builtins only, so that a
# static busybox as /bin/sh is all it needs (the layer tests run it in an empty chroot): it
# answers the startup handshake, then replies to every request with its id and says on stderr
# (forwarded to the log by the host) where it runs and what it got.
IFS= read -r startup || exit 1
handler=""
case "$startup" in
  *'"handler":"'*) handler=${startup#*\"handler\":\"} handler=${handler%%\"*} ;;
esac
printf '{"ok":true}\n'
echo "shell child handler=$handler in $PWD" >&2
while IFS= read -r line; do
  id=${line#*\"aws_request_id\":\"}
  id=${id%%\"*}
  type=${line#*\"eventType\":\"}
  type=${type%%\"*}
  echo "shell child got $type $id" >&2
  printf '{"result":{"eventType":"%s"},"errortype":"","invokeid":"%s"}\n' "$type" "$id"
done
