#!/usr/bin/env bash
# Check the CloudFormation templates in infra/ with cfn-lint (AWS's resource schemas and rules) and checkov (security
# policies), both pinned, in a virtualenv of their own, .venv-infra: checkov's many requirements would clash with the
# project's pins in .venv (boto3, moto). Made on the first run and again when the pins change; later runs need no
# network. checkov runs with --skip-download so that it calls nothing. Any finding of either tool fails the run: a rule
# or check that a template does not follow is skipped in the template itself, beside the reason.
# Usage: scripts/lint-infra.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tools=(cfn-lint==1.58.0 checkov==3.3.30)

venv=.venv-infra
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp="$venv/.stacktags-setup"
if [ "$(cat "$stamp" 2>/dev/null)" != "${tools[*]}" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "${tools[@]}"
  echo "${tools[*]}" > "$stamp"
fi

status=0
# cfn-lint's exit status is a bitmask (2 errors, 4 warnings, 8 informational): any of them fails, informational
# findings included
"$venv/bin/cfn-lint" --include-checks I -- infra/*.yaml || status=1
# checkov does not expand Fn::ForEach (the Glue jobs' loop): it checks every other resource and says so on stderr
# ("Failed to create a new template with enriched resources"); tests/test_infra.py checks the expanded jobs.
"$venv/bin/checkov" --skip-download --framework cloudformation --directory infra --quiet --compact || status=1
[ "$status" -eq 0 ] && echo "lint-infra: cfn-lint and checkov found nothing in infra/" >&2
exit "$status"
