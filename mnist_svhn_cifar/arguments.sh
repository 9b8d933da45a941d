# The arguments of the shell scripts here, [EPOCHS] [OUT], checked as every entry point checks its input:
# -h/--help prints the calling script's header comment and exits 0; more than two arguments, or an EPOCHS that is
# not a positive whole number, is one line "error: ..." on stderr and exit status 2, before anything starts.
# Usage, in a script: source "$(dirname "$0")/arguments.sh" "$@"
case "${1:-}" in
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
if [ $# -gt 2 ]; then
  echo "error: at most two arguments, EPOCHS and OUT, got $# (bash $0 --help explains them)" >&2; exit 2
fi
if [ -n "${1:-}" ] && ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "error: EPOCHS must be a positive whole number, got '$1' (bash $0 --help explains the arguments)" >&2; exit 2
fi
