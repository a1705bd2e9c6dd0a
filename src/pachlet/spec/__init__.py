"""Pipeline specs: loading (``load``), normalizing (``normalize``), validating (``validate``), the
input tree (``inputs``: one visitor) and dependency order (``order``)."""

from pachlet.spec.inputs import InputNode, cron_inputs, input_name, input_repos, visit_inputs
from pachlet.spec.load import load_spec_file, render_jsonnet
from pachlet.spec.normalize import normalize_spec, pipeline_name, to_proto
from pachlet.spec.order import dependency_order, find_cycle
from pachlet.spec.validate import validate_input, validate_spec

__all__ = [
    "InputNode",
    "cron_inputs",
    "dependency_order",
    "find_cycle",
    "input_name",
    "input_repos",
    "load_spec_file",
    "normalize_spec",
    "pipeline_name",
    "render_jsonnet",
    "to_proto",
    "validate_input",
    "validate_spec",
    "visit_inputs",
]
