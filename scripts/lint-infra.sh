#!/usr/bin/env bash
# Check the CloudFormation templates in infra/ with cfn-lint (AWS's resource schemas and rules) and checkov (security
# policies), and the state machine's definition with asl-validator (npm; transitions, paths, field types), all pinned,
# in a folder of their own, .venv-infra: checkov's many requirements would clash with the project's pins in .venv
# (boto3, moto). Made on the first run and again when the pins change; later runs need no network. checkov runs with
# --skip-download so that it calls nothing. Any finding of any of them fails the run: a rule or check that a template
# does not follow is skipped in the template itself, beside the reason.
# Usage: scripts/lint-infra.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tools=(cfn-lint==1.58.0 checkov==3.3.30)
node_tools=(asl-validator@4.0.0)
command -v npm >/dev/null || { echo "lint-infra: npm is needed for asl-validator (apt-get install npm)" >&2; exit 1; }

venv=.venv-infra
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp="$venv/.stacktags-setup"
if [ "$(cat "$stamp" 2>/dev/null)" != "${tools[*]} ${node_tools[*]}" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "${tools[@]}"
  npm install --prefix "$venv/node" --no-audit --no-fund --silent "${node_tools[@]}"
  echo "${tools[*]} ${node_tools[*]}" > "$stamp"
fi

status=0
# cfn-lint's exit status is a bitmask (2 errors, 4 warnings, 8 informational): any of them fails, informational
# findings included
"$venv/bin/cfn-lint" --include-checks I -- infra/*.yaml || status=1
# checkov does not expand Fn::ForEach (the Glue jobs' loop): it checks every other resource and says so on stderr
# ("Failed to create a new template with enriched resources"); tests/test_infra.py checks the expanded jobs.
"$venv/bin/checkov" --skip-download --framework cloudformation --directory infra --quiet --compact || status=1
# the definition as Step Functions receives it (DefinitionSubstitutions replaced), by infra/cloudformation.py
definition="$(mktemp --suffix=.json)"
trap 'rm -f "$definition"' EXIT
"$venv/bin/python" infra/cloudformation.py state-machine > "$definition"
"$venv/node/node_modules/.bin/asl-validator" --json-path "$definition" >/dev/null || status=1
[ "$status" -eq 0 ] && echo "lint-infra: cfn-lint, checkov and asl-validator found nothing in infra/" >&2
exit "$status"
