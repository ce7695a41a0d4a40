#!/usr/bin/env bash
# MirrorMaker 2 from the broker's Apache Kafka release (docs/provincial-node.md).
#
#   broker/mirror.sh fetch          download connect-mirror and its jars (cached in broker/mirror/lib)
#   broker/mirror.sh run PROPS      run MirrorMaker 2 in dedicated mode with PROPS (mm2.properties,
#                                   written by creditstream.province.mirror_properties), in the foreground
#
# Environment: MIRROR_HEAP (256m); MIRROR_CLASSPATH: run with these jars instead of fetching
# (the compose image: the apache/kafka image's /opt/kafka/libs/*, the same release).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lib="$here/mirror/lib"
log() { echo "mirror.sh: $*" >&2; }
fetch() {
  if [ -f "$lib/.complete" ]; then return 0; fi
  log "fetching MirrorMaker 2 jars with Maven (first run only)"
  rm -rf "$lib"
  mvn -B -q -Dstyle.color=never -f "$here/mirror/pom.xml" "-Dmirror.lib=$lib" dependency:copy-dependencies 2>&1 \
    | sed 's/\x1b\[[0-9;]*m//g' >&2
  touch "$lib/.complete"
}
case "${1:-}" in
  fetch) fetch ;;
  run)
    [ -n "${2:-}" ] || { log "usage: broker/mirror.sh run mm2.properties"; exit 2; }
    classpath="${MIRROR_CLASSPATH:-}"
    if [ -z "$classpath" ]; then fetch; classpath="$lib/*"; fi
    heap="${MIRROR_HEAP:-256m}"
    exec java "-Xms${heap}" "-Xmx${heap}" -Djava.awt.headless=true "-Dlog4j2.configurationFile=$here/mirror/log4j2.properties" \
      -cp "$classpath" org.apache.kafka.connect.mirror.MirrorMaker "$2" ;;
  *) log "usage: broker/mirror.sh fetch|run PROPS"; exit 2 ;;
esac
