#!/bin/sh
# Report this Jenkins build's phase to the bus, from a shell step:
#   deploykit-notify.sh started|succeeded|failed|aborted
# It runs `deploykit jenkins-notify --phase PHASE`, which reads the build from
# Jenkins' environment (JOB_NAME, BUILD_NUMBER, BUILD_URL, GIT_COMMIT and the
# DEPLOYKIT_* parameters bus-to-jenkins passes). It never fails the build: a
# wrong phase, a missing deploykit or a bus that is down cost one warning.
# deploykit is $DEPLOYKIT_BIN, else on PATH.
phase=$1
case $phase in
started | succeeded | failed | aborted) ;;
*)
	echo "deploykit-notify: warning: the phase must be started, succeeded, failed or aborted, not '$phase'; nothing reported" >&2
	exit 0
	;;
esac
bin=${DEPLOYKIT_BIN:-deploykit}
if ! command -v "$bin" >/dev/null 2>&1; then
	echo "deploykit-notify: warning: $bin not found (set DEPLOYKIT_BIN); the $phase phase was not reported" >&2
	exit 0
fi
"$bin" jenkins-notify --phase "$phase" ||
	echo "deploykit-notify: warning: $bin jenkins-notify exited with status $?; the $phase phase may not have been reported" >&2
exit 0
