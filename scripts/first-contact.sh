#!/usr/bin/env bash
# `make first-contact`: a new user's first minutes, from a fresh clone, running the README
# front's own commands (taken from the README, not copied): the quick start's `make demo`,
# then the offline lines (activate .venv-demo, a stub, a first prompt), `man cohere-chat`,
# a second `make demo` (under 5 s), and `make test`. Slow: it installs twice.
# Argument: the repository to clone (default: this one). Needs git, python3, make, man.
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=$(mktemp -d)
stub_pid=""
cleanup() { [ -n "$stub_pid" ] && kill "$stub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

block() {  # the ```sh block after <!-- $1 --> in the README, its comments dropped
  awk -v mark="<!-- $1 -->" '$0 == mark {on = 1; next}
    on && /^```sh/ {inside = 1; next} inside && /^```/ {exit} inside {print}' README.md |
    sed 's/[[:space:]]#[[:space:]].*$//'
}
step() { printf '\n== %s\n' "$*"; }

git clone -q "$repo" "$work/clone"
cd "$work/clone"
unset CO_API_KEY CO_API_URL VIRTUAL_ENV MANPATH
export PATH=/usr/local/bin:/usr/bin:/bin

quick=$(block quick-start)
offline=$(block first-contact)
[ -n "$quick" ] && [ -n "$offline" ] || { echo "README: no quick start found" >&2; exit 1; }
demo_line=$(grep -m1 '^make demo' <<< "$quick")
test_line=$(grep -m1 '^make test' <<< "$quick")

step "$demo_line   (the first time: it installs)"
eval "$demo_line" | tail -n 4

step "the README's offline lines"
printf '%s\n' "$offline"
eval "$(sed 's/ & / \& stub_pid=$!; /' <<< "$offline")" > hello.out
reply=$(grep -x 'echo: hello' hello.out) || { echo "no echo: $(cat hello.out)" >&2; exit 1; }
echo "cohere-chat is $(command -v cohere-chat): $reply"

step "man cohere-chat"
man -w cohere-chat
MANPAGER=cat MANWIDTH=80 man cohere-chat 2>/dev/null | grep -m1 -A1 '^NAME'

step "$demo_line   (again: under 5 s)"
start=$(date +%s%N)
eval "$demo_line" > /dev/null
took=$(( ($(date +%s%N) - start) / 1000000 ))
echo "${took} ms"
[ "$took" -lt 5000 ] || { echo "make demo took ${took} ms the second time" >&2; exit 1; }

step "$test_line"
deactivate 2>/dev/null || true
eval "$test_line" | grep -E "^(FAILED|ERROR) | passed| failed"
step "all done: the README front works from a fresh clone"
