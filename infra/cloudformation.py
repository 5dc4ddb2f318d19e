"""infra/stacktags.yaml read as CloudFormation reads it, without AWS: the short forms (!Ref, !Sub, !GetAtt, ...), the
Fn::ForEach loops of the AWS::LanguageExtensions transform, and the values with every parameter at its default.
tests/test_infra.py and tests/test_state_machine.py check the template through it, and scripts/lint-infra.sh gives
asl-validator the state machine's definition it prints:

    python infra/cloudformation.py state-machine > definition.json

(the definition as Step Functions receives it: DefinitionSubstitutions replaced by the parameters' default values, and
by a placeholder <Name> for the resources' ARNs).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).resolve().parent / "stacktags.yaml"
STATE_MACHINE = "PipelineStateMachine"
# what the pseudo parameters stand for here: the conf files' region, an example account
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref X, !Sub s, !GetAtt A.B, ...) as their long forms."""


def _short_form(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _short_form)

FOR_EACH = "Fn::ForEach::"


def _substitute(node, identifier, item):
    """A loop's fragment for one item: ${identifier} in keys and strings is the item, &{identifier} the item without
    its non-alphanumeric characters (so that it may be part of a logical ID), Ref identifier the item."""
    if isinstance(node, list):
        return [_substitute(value, identifier, item) for value in node]
    if isinstance(node, dict):
        if node == {"Ref": identifier}:
            return item
        return {_substitute(key, identifier, item): _substitute(value, identifier, item) for key, value in node.items()}
    if isinstance(node, str):
        alphanumeric = re.sub(r"[^A-Za-z0-9]", "", item)
        return node.replace(f"${{{identifier}}}", item).replace(f"&{{{identifier}}}", alphanumeric)
    return node


def expand_for_each(node):
    """node with every Fn::ForEach::<loop>: [identifier, [item, ...], {key: value}] replaced by its key: value for each
    item, inner loops after outer ones, as the AWS::LanguageExtensions transform does. A key made twice, or a
    collection that is not a list (a Ref to a CommaDelimitedList), fails."""
    if isinstance(node, list):
        return [expand_for_each(value) for value in node]
    if not isinstance(node, dict):
        return node
    expanded = {}
    for key, value in node.items():
        if not key.startswith(FOR_EACH):
            assert key not in expanded, f"{key} made twice"
            expanded[key] = expand_for_each(value)
            continue
        identifier, collection, fragment = value
        assert isinstance(collection, list), f"{key}: a collection that is not a list, teach expand_for_each about it"
        for item in collection:
            for made, made_value in expand_for_each(_substitute(fragment, identifier, str(item))).items():
                assert made not in expanded and made not in node, f"{key}: {made} made twice"
                expanded[made] = made_value
    return expanded


def load(path: Path = TEMPLATE) -> dict:
    """The template as CloudFormation deploys it, after the AWS::LanguageExtensions transform."""
    return expand_for_each(load_raw(path))


def load_raw(path: Path = TEMPLATE) -> dict:
    """The template as written."""
    return yaml.load(path.read_text(), Loader=CloudFormationLoader)


class Evaluated:
    """The template's values with every parameter at its default: Ref and GetAtt of the buckets, the database and the
    security configuration give their names and ARNs; of other resources, a placeholder naming them."""

    def __init__(self, template):
        self.template = template
        self.parameters = {name: spec.get("Default") for name, spec in template["Parameters"].items()}

    def resources(self, kind):
        return {name: r for name, r in self.template["Resources"].items() if r["Type"] == kind}

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return str(self.parameters[name])
        resource = self.template["Resources"][name]
        properties = resource["Properties"]
        if resource["Type"] == "AWS::S3::Bucket":
            return self(properties["BucketName"])
        if resource["Type"] == "AWS::Glue::Database":
            return self(properties["DatabaseInput"]["Name"])
        if resource["Type"] == "AWS::Glue::SecurityConfiguration":
            return self(properties["Name"])
        return f"<{name}>"

    def attribute(self, name, attribute):
        if attribute == "Arn" and self.template["Resources"][name]["Type"] == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{self.ref(name)}"
        return f"<{name}.{attribute}>"

    def __call__(self, node):
        if isinstance(node, list):
            return [self(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"}:
            return self.ref(node["Ref"])
        if set(node) == {"Fn::GetAtt"}:
            return self.attribute(*node["Fn::GetAtt"])
        if set(node) == {"Fn::Sub"}:
            text = node["Fn::Sub"]
            assert isinstance(text, str), "a !Sub with its own variables: teach Evaluated about it"
            return re.sub(
                r"\$\{([^}.]+)(?:\.([^}]+))?\}",
                lambda m: self.attribute(m[1], m[2]) if m[2] else self.ref(m[1]),
                text,
            )
        return {key: self(value) for key, value in node.items()}


def state_machine_definition(template: dict, values: dict[str, str] | None = None) -> dict:
    """The state machine's definition with its DefinitionSubstitutions replaced: by `values` where given, else by the
    template's values with the parameters' defaults."""
    properties = template["Resources"][STATE_MACHINE]["Properties"]
    evaluated = Evaluated(template)
    substitutions = {
        name: str(evaluated(value)) for name, value in properties.get("DefinitionSubstitutions", {}).items()
    } | (values or {})
    text = json.dumps(properties["Definition"])
    unknown = set(re.findall(r"\$\{([^}]+)\}", text)) - set(substitutions)
    assert not unknown, f"the definition names {sorted(unknown)}, which DefinitionSubstitutions does not give"
    return json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: substitutions[m[1]], text))


if __name__ == "__main__":
    if sys.argv[1:] != ["state-machine"]:
        sys.exit("usage: python infra/cloudformation.py state-machine")
    print(json.dumps(state_machine_definition(load()), indent=1))
