#!/usr/bin/env bash
# `make demo`: the main job, offline. Starts `cohere-chat stub` on a free loopback port,
# runs a few real pipelines against it, says what each did, stops the stub, and ends with
# the three lines to type next. Argument: the bin folder of the virtualenv to use
# (`make demo` gives .venv-demo/bin: the package alone, as `pip install .` installs it).
set -euo pipefail
bin=${1:-.venv-demo/bin}
PATH="$(cd "$bin" && pwd):$PATH"
work=$(mktemp -d)
stub_pid=""
cleanup() { [ -n "$stub_pid" ] && kill "$stub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

cohere-chat stub --token-delay 40 > stub.url &
stub_pid=$!
while [ ! -s stub.url ]; do sleep 0.05; done
export CO_API_URL=$(head -n 1 stub.url) CO_API_KEY=demo-key-not-real
echo "A stub speaking the v2 chat wire format listens at $CO_API_URL (it echoes)."

run() {  # show the command, then run it
  printf '\n$ %s\n' "$1"
  bash -c "$1" || echo "(exit status $?)"
}

echo; echo "1. A log summarised with a system prompt; the reply streams as it comes:"
printf 'ERROR disk /var is full\nINFO backup done\n' > app.log
run 'cohere-chat --system "Summarise for an on-call engineer" < app.log'

echo; echo "2. A conversation kept in a JSONL file, one message a line:"
run 'cohere-chat -c chat.jsonl -s "Be terse" "What is the 10th prime?"'
run 'cohere-chat -c chat.jsonl "And the next one?"'
run 'cat chat.jsonl'

echo; echo "3. A small batch, two at a time, results in input order:"
printf '"label: printer on fire"\n{"id": "t-2", "prompt": "label: refund please"}\n' > tickets.jsonl
run 'cohere-chat batch -j 2 -o labels.jsonl tickets.jsonl && cat labels.jsonl'

echo; echo "4. The whole response as JSON, taken apart with jq (or Python without jq):"
if command -v jq > /dev/null; then
  run 'cohere-chat --json "hello" | jq -r ".message.content[0].text, .usage.billed_units"'
else
  run 'cohere-chat --json "hello" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"message\"])"'
fi

echo; echo "5. What would be sent, without a key or the network:"
run 'env -u CO_API_KEY cohere-chat --dry-run -t 0.2 "hi"'

echo; echo "6. Bad input is named with its line and a meaningful exit status (3):"
run "printf '{\"role\": \"user\", \"content\": \"hi\"}\n{\"role\": \"usr\"}\n' | cohere-chat --jsonl"

echo; echo "Done; the stub is stopped. Next, in your shell:"
cat <<NEXT
  . $bin/activate           # cohere-chat on PATH, and man cohere-chat
  cohere-chat stub --port 8399 & export CO_API_URL=http://127.0.0.1:8399 CO_API_KEY=any
  export CO_API_KEY=...     # or your key, for the real API (and unset CO_API_URL)
NEXT
