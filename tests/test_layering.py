"""Which way the imports run (docs: ../shared/DESIGN.md), held as import-linter contracts on the real import graph.

Each contract is an import-linter ``forbidden`` contract (direct and indirect imports, unless it says otherwise),
checked with import-linter's own contract class on a grimp graph of ``sdk``, ``functions`` and ``models``. The last
test adds one upward import to a copy of the graph per contract and shows that contract break: a check that cannot
fail holds nothing.
"""

from __future__ import annotations

from typing import Any

import grimp
import pytest
from importlinter import configuration
from importlinter.contracts.forbidden import ForbiddenContract

configuration.configure()  # import-linter's settings (timer, printer), as its own entry points set them up

ROOTS = ("sdk", "functions", "models")

# The Open Inference Protocol modules the client may still import from sdk.serving. They move to a neutral
# sdk/protocol package (issue #13, "a neutral protocol package"); this list goes with them, and then the client
# imports nothing of sdk.serving.
PROTOCOL_IN_SERVING = ("sdk.serving.codec", "sdk.serving.tensors", "sdk.serving.datatypes", "sdk.serving.jsonio")

# What functions/ may import directly: the serving core (and the base error tree). The rest comes through serving.
FUNCTIONS_MAY_IMPORT = ("sdk.serving", "sdk.errors")

# The layers nothing in sdk.runtime or sdk.artifacts may reach, directly or through another module.
ABOVE_RUNTIME = ("sdk.client", "sdk.serving", "sdk.compile", "sdk.deploy", "sdk.cli")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*ROOTS, cache_dir=None)


def contracts(graph: grimp.ImportGraph) -> dict[str, dict[str, Any]]:
    """name -> import-linter options. Lists are computed from the graph, so a new subpackage is covered at once."""
    top = sorted(graph.find_children("sdk"))
    serving = sorted(graph.find_children("sdk.serving"))
    return {
        "nothing in sdk imports the CLI": {
            "source_modules": [m for m in top if m != "sdk.cli"],
            "forbidden_modules": ["sdk.cli"],
        },
        "the client imports only the protocol modules of sdk.serving": {
            "source_modules": ["sdk.client"],
            "forbidden_modules": [m for m in serving if m not in PROTOCOL_IN_SERVING],
        },
        "runtime and artifacts import no layer above them": {
            "source_modules": ["sdk.runtime", "sdk.artifacts"],
            "forbidden_modules": list(ABOVE_RUNTIME),
        },
        "functions import only sdk.serving": {
            "source_modules": ["functions"],
            "forbidden_modules": [m for m in top if m not in FUNCTIONS_MAY_IMPORT],
            "allow_indirect_imports": "true",
        },
        "sdk never imports models/": {"source_modules": ["sdk"], "forbidden_modules": ["models"]},
    }


def broken_chains(graph: grimp.ImportGraph, name: str) -> list[str]:
    """The import chains that break contract ``name``, one line each; empty when it is kept."""
    contract = ForbiddenContract(
        name=name, session_options={"root_packages": list(ROOTS)}, contract_options=contracts(graph)[name]
    )
    check = contract.check(graph, verbose=False)
    lines = [
        " -> ".join([chain[0]["importer"], *(f"{link['imported']} (line {link['line_numbers']})" for link in chain)])
        for found in check.metadata["invalid_chains"]
        for chain in found["chains"]
    ]
    assert check.kept == (not lines)
    return lines


NAMES = list(contracts(grimp.build_graph(*ROOTS, cache_dir=None)))


@pytest.mark.parametrize("name", NAMES)
def test_the_import_graph_keeps_the_layering(graph: grimp.ImportGraph, name: str) -> None:
    assert broken_chains(graph, name) == [], f"{name}: an import runs the wrong way"


UPWARD = {
    "nothing in sdk imports the CLI": ("sdk.client.client", "sdk.cli.predict"),
    "the client imports only the protocol modules of sdk.serving": ("sdk.client.cloud", "sdk.serving.service"),
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
