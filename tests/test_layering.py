"""Which way the imports run (docs: ../shared/DESIGN.md), held as import-linter contracts on the real import graph.

One ``layers`` contract orders the core top to bottom (every top-level module of ``sdk`` sits in a layer, so a new
one has to be placed); ``forbidden`` contracts (direct and indirect imports, unless they say otherwise) hold the rest.
Each is checked with import-linter's own contract class on a grimp graph of ``sdk``, ``functions`` and ``models``.
The last tests add one upward import (or one unplaced module) to a copy of the graph per contract and show that
contract break: a check that cannot fail holds nothing.
"""

from __future__ import annotations

from typing import Any

import grimp
import pytest
from importlinter import configuration
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.layers import LayersContract

configuration.configure()  # import-linter's settings (timer, printer), as its own entry points set them up

ROOTS = ("sdk", "functions", "models")

# The application layer: code only the `sdk` command line runs. sdk/demo works only inside a checkout; sdk/bench.py is
# `sdk bench`'s engine. They stay where they are (a package of their own would move two modules and their tests for
# no change in what imports what): this declaration is their home, and nothing outside it may import them.
APPLICATION = ("sdk.cli", "sdk.demo", "sdk.bench")

# The base: what every layer may use. ``protocol`` is the Open Inference Protocol on the wire (codec, tensors,
# datatypes, framing, JSON, content encodings), neutral between the client that sends requests and the server that
# answers them (issue #13).
BASE = ("settings", "extras", "errors", "_version", "_record", "protocol")

# The core inside sdk, top to bottom, in import-linter's notation: a layer may import the layers below it, never those
# above; modules joined by ":" share a layer and may import each other.
LAYERS = (
    "cli : demo : bench",
    "client : serving : compile : deploy : adaptation",
    "explain",
    "runtime",
    "artifacts",
    " : ".join(BASE),
)
# Top-level modules of sdk in no layer, and why. Any other new one fails the layers contract until it is placed.
UNLAYERED = {
    "testing": "a helper for users' tests (serving in-process behind the client's transport); sdk never imports it",
}

# What functions/ may import directly: the serving core, and the base it speaks with (the error tree, the protocol
# whose error body the Lambda glue writes). The rest comes through serving.
FUNCTIONS_MAY_IMPORT = ("sdk.serving", "sdk.errors", "sdk.protocol")

# The layers nothing in sdk.runtime or sdk.artifacts may reach, directly or through another module.
ABOVE_RUNTIME = ("sdk.client", "sdk.serving", "sdk.compile", "sdk.deploy", *APPLICATION)

CONTRACT_CLASSES = {"forbidden": ForbiddenContract, "layers": LayersContract}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*ROOTS, cache_dir=None)


def contracts(graph: grimp.ImportGraph) -> dict[str, dict[str, Any]]:
    """name -> import-linter options (``type`` as in its config file). Lists are computed from the graph, so a new
    subpackage is covered at once."""
    top = sorted(graph.find_children("sdk"))
    return {
        "the core runs top to bottom: client/serving/compile/deploy, runtime, artifacts, base": {
            "type": "layers",
            "containers": ["sdk"],
            "layers": list(LAYERS),
            "exhaustive": "true",
            "exhaustive_ignores": list(UNLAYERED),
        },
        "nothing outside the application layer imports it": {
            "type": "forbidden",
            "source_modules": [*(m for m in top if m not in APPLICATION), "functions", "models"],
            "forbidden_modules": list(APPLICATION),
        },
        "the client does not import sdk.serving": {
            "type": "forbidden",
            "source_modules": ["sdk.client"],
            "forbidden_modules": ["sdk.serving"],
        },
        "the protocol imports only the base": {
            "type": "forbidden",
            "source_modules": ["sdk.protocol"],
            "forbidden_modules": [m for m in top if m.removeprefix("sdk.") not in BASE],
        },
        "runtime and artifacts import no layer above them": {
            "type": "forbidden",
            "source_modules": ["sdk.runtime", "sdk.artifacts"],
            "forbidden_modules": list(ABOVE_RUNTIME),
        },
        "functions import only sdk.serving": {
            "type": "forbidden",
            "source_modules": ["functions"],
            "forbidden_modules": [m for m in top if m not in FUNCTIONS_MAY_IMPORT],
            "allow_indirect_imports": "true",
        },
        "sdk never imports models/": {"type": "forbidden", "source_modules": ["sdk"], "forbidden_modules": ["models"]},
    }


def _line(chain: list[dict[str, Any]]) -> str:
    return " -> ".join([chain[0]["importer"], *(f"{link['imported']} (line {link['line_numbers']})" for link in chain)])


def broken_chains(graph: grimp.ImportGraph, name: str) -> list[str]:
    """What breaks contract ``name``, one line each (an import chain, or a module in no layer); empty when kept."""
    options = dict(contracts(graph)[name])
    contract = CONTRACT_CLASSES[options.pop("type")](
        name=name, session_options={"root_packages": list(ROOTS)}, contract_options=options
    )
    check = contract.check(graph, verbose=False)
    if isinstance(contract, LayersContract):
        lines = [_line(route["chain"]) for found in check.metadata["invalid_dependencies"] for route in found["routes"]]
        lines += [f"{module} is in no layer" for module in sorted(check.metadata["undeclared_modules"])]
    else:
        lines = [_line(chain) for found in check.metadata["invalid_chains"] for chain in found["chains"]]
    assert check.kept == (not lines)
    return lines


NAMES = list(contracts(grimp.build_graph(*ROOTS, cache_dir=None)))


@pytest.mark.parametrize("name", NAMES)
def test_the_import_graph_keeps_the_layering(graph: grimp.ImportGraph, name: str) -> None:
    assert broken_chains(graph, name) == [], f"{name}: an import runs the wrong way"


UPWARD = {
    "the core runs top to bottom: client/serving/compile/deploy, runtime, artifacts, base": (
        "sdk.artifacts.manifest",
        "sdk.runtime.model",
    ),
    "nothing outside the application layer imports it": ("sdk.serving.service", "sdk.bench"),
    "the client does not import sdk.serving": ("sdk.client.cloud", "sdk.serving.limits"),
    "the protocol imports only the base": ("sdk.protocol.codec", "sdk.runtime.validation"),
    "runtime and artifacts import no layer above them": ("sdk.runtime.model", "sdk.client.router"),
    "functions import only sdk.serving": ("functions.aws_lambda.handler", "sdk.client"),
    "sdk never imports models/": ("sdk.artifacts.store", "models.digits_cnn"),
}


def test_every_contract_has_a_case_that_breaks_it() -> None:
    assert sorted(UPWARD) == sorted(NAMES)


@pytest.mark.parametrize(("name", "edge"), UPWARD.items(), ids=list(UPWARD))
def test_an_added_upward_import_breaks_its_contract(graph: grimp.ImportGraph, name: str, edge: tuple[str, str]) -> None:
    importer, imported = edge
    assert imported not in graph.find_modules_directly_imported_by(importer)  # not there already
    upward = grimp.build_graph(*ROOTS, cache_dir=None)  # a graph of its own to change
    upward.add_import(importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}")
    assert any(importer in line and imported in line for line in broken_chains(upward, name))


def test_a_new_top_level_module_must_be_placed_in_a_layer(graph: grimp.ImportGraph) -> None:
    unplaced = grimp.build_graph(*ROOTS, cache_dir=None)
    unplaced.add_module("sdk.newcomer")
    name = next(n for n, options in contracts(graph).items() if options["type"] == "layers")
    assert broken_chains(unplaced, name) == ["sdk.newcomer is in no layer"]
