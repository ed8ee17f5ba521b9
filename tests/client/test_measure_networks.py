"""The NB201 and FBNet torch networks built from arch strings."""

from __future__ import annotations

import itertools

import pytest
import torch

from client.measure.errors import ArchitectureError
from client.measure.networks import (
    FBNET_BLOCKS,
    NB201_OPS,
    build_network,
    check_archs,
    example_input,
    format_nb201,
    parse_fbnet,
    parse_nb201,
    random_archs,
    random_fbnet,
    random_nb201,
    space_of_arch,
)

CONV3 = format_nb201(["nor_conv_3x3"] * 6)
MIXED = "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|none~2|"
FBNET = ",".join(FBNET_BLOCKS[i % len(FBNET_BLOCKS)] for i in range(22))


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_nb201_network_runs_on_a_cifar_input() -> None:
    with torch.inference_mode():
        out = build_network(MIXED)(example_input(2))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_fbnet_network_runs_on_a_cifar_input() -> None:
    with torch.inference_mode():
        out = build_network(FBNET, "fbnet")(example_input(1))
    assert out.shape == (1, 100)


def test_networks_are_built_in_eval_mode() -> None:
    assert not build_network(MIXED).training


def test_flops_and_parameters_match_the_modelling_package() -> None:
    # The GP's analytic features count the same weights (BN affine included) and MACs: if the
    # macro architecture drifts from gp/spaces (a stride, a stage's resolution: parameter
    # counts alone miss those), measured latencies would describe other networks.
    nb201 = pytest.importorskip("gp.spaces.nasbench201")
    fbnet = pytest.importorskip("gp.spaces.fbnet")
    from gp.spaces import FBNetSpace, NASBench201Space
    from tests.helpers import reference_totals

    cases = [(NASBench201Space(), nb201, "nasbench201", arch) for arch in (CONV3, MIXED)]
    cases += [(FBNetSpace(), fbnet, "fbnet", a) for a in [FBNET, *random_fbnet(2, seed=3)]]
    for space, module, name, arch in cases:
        row = space.encode([arch])[0]
        flops, params = reference_totals(list(build_network(arch, name)))
        expected_flops = 1e6 * float(row[module.FEATURE_NAMES.index("flops_m")])
        assert flops == pytest.approx(expected_flops, abs=1), arch
        expected_params = 1e6 * float(row[module.FEATURE_NAMES.index("params_m")])
        assert params == pytest.approx(expected_params, abs=1), arch


def test_names_and_index_order_match_the_modelling_package() -> None:
    # The client keeps its own copy (it must not import gp); indices 0..8 / 0..4 mean the same.
    nb201 = pytest.importorskip("gp.spaces.nasbench201")
    fbnet = pytest.importorskip("gp.spaces.fbnet")
    assert NB201_OPS == nb201.OPS and FBNET_BLOCKS == fbnet.BLOCKS


def test_parse_and_format_round_trip() -> None:
    ops = [op for group in parse_nb201(MIXED) for op in group]
    assert format_nb201(ops) == MIXED
    assert parse_fbnet(" 0, 8" + ",k3_e1" * 20) == ["k3_e1", "skip"] + ["k3_e1"] * 20


@pytest.mark.parametrize(
    "arch",
    ["", "|nor_conv_3x3~0|", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", CONV3[:-2]],
)
def test_malformed_nb201_archs_are_refused(arch: str) -> None:
    with pytest.raises(ArchitectureError):
        build_network(arch)


def test_an_nb201_cell_is_formatted_from_exactly_six_ops() -> None:
    for count in (5, 7):
        with pytest.raises(ArchitectureError, match=f"6 edges, got {count} ops"):
            format_nb201(["none"] * count)


def test_malformed_fbnet_archs_and_unknown_spaces_are_refused() -> None:
    with pytest.raises(ArchitectureError, match="22 blocks"):
        build_network("k3_e1,skip", "fbnet")
    with pytest.raises(ArchitectureError, match="block 1"):
        parse_fbnet("k3_e1,k7_e9" + ",skip" * 20)
    with pytest.raises(ArchitectureError, match="search space"):
        build_network(MIXED, "vector")


def test_one_fbnet_network_however_spelled_has_one_canonical_form() -> None:
    """Before, indices, names and spaced names were timed and uploaded as three archs."""
    names = ",".join(["k3_e1"] * 22)
    spellings = [",".join(["0"] * 22), names, ", ".join(["k3_e1"] * 22)]
    assert check_archs(spellings, "fbnet") == [names] * 3
    assert check_archs([f" {MIXED} "]) == [MIXED]


def test_a_non_ascii_digit_is_an_unknown_block_not_a_crash() -> None:
    with pytest.raises(ArchitectureError, match="block 0: unknown block"):
        parse_fbnet("\u00b2" + ",0" * 21)


def test_random_nb201_draws_are_distinct_reproducible_and_avoid_exclusions() -> None:
    first = random_nb201(50, seed=1, exclude={MIXED})
    assert first == random_nb201(50, seed=1, exclude={MIXED})
    assert len(set(first)) == 50 and MIXED not in first
    for arch in first:
        parse_nb201(arch)
    assert len(random_archs(3, "fbnet", seed=0)) == 3
    # Enough draws that, without the check, some of 15,625 archs came twice (239 of 3,000).
    assert len(set(random_nb201(3000, seed=0))) == 3000


def test_the_empty_space_name_is_nb201() -> None:
    """A request's unset search space is the empty string: NB201, as in the service."""
    assert random_archs(2, "", seed=0) == random_archs(2, "nasbench201", seed=0)
    assert isinstance(build_network(MIXED, ""), type(build_network(MIXED)))


def test_random_nb201_draws_the_last_arch_left_and_refuses_more() -> None:
    """Excluded archs shrink what can be drawn: past it, an error rather than a loop that never
    finds another arch."""
    every = [format_nb201(list(ops)) for ops in itertools.product(NB201_OPS, repeat=6)]
    assert random_nb201(1, seed=0, exclude=set(every[1:])) == every[:1]
    with pytest.raises(ArchitectureError, match="only 1 are left"):
        random_nb201(2, seed=0, exclude=set(every[1:]))


def test_an_nb201_edge_from_the_wrong_node_is_refused() -> None:
    wrong = MIXED.replace("skip_connect~1|none~2", "skip_connect~1|none~1")
    with pytest.raises(ArchitectureError, match=r"edge 2->3 .*got 'none~1'"):
        parse_nb201(wrong)


def test_an_fbnet_block_index_past_the_last_block_is_unknown() -> None:
    with pytest.raises(ArchitectureError, match="block 0: unknown block '9'"):
        parse_fbnet("9" + ",0" * 21)


def test_random_fbnet_archs_leave_out_the_excluded_and_draw_others_for_them() -> None:
    """The excluded were dropped, not replaced: a held-out set came out short, unsaid."""
    drawn = random_archs(5, "fbnet", seed=0)
    others = random_archs(3, "fbnet", seed=0, exclude=set(drawn[1:3]))
    assert others == [drawn[0], *drawn[3:]]


def test_an_fbnet_block_index_of_thousands_of_digits_is_an_unknown_block() -> None:
    """int() refuses over 4,300 digits with a bare ValueError, which ended measure in a
    traceback; leading zeros still spell an index."""
    with pytest.raises(ArchitectureError, match="block 0: unknown block '1111"):
        parse_fbnet("1" * 5000 + ",0" * 21)
    assert parse_fbnet("007" + ",0" * 21)[0] == "k5_e6"


def test_an_nb201_group_with_doubled_bars_is_refused() -> None:
    """Stripping every '|' took "||op~0||" for "|op~0|", which gp's parser refuses."""
    with pytest.raises(ArchitectureError, match="group 1 of"):
        parse_nb201("|" + MIXED.replace("+", "|+", 1))


def test_an_nb201_cell_with_leading_whitespace_is_nb201() -> None:
    assert space_of_arch(f"  {MIXED}") == "nasbench201"
    assert space_of_arch(FBNET) == "fbnet"


def test_check_archs_names_a_bad_arch_by_its_place_counted_from_one() -> None:
    with pytest.raises(ArchitectureError, match=r"^arch 2: "):
        check_archs([MIXED, "junk"])
    with pytest.raises(ArchitectureError, match=r"^mine.txt line 4: "):
        check_archs([MIXED, "junk"], places=["mine.txt line 3", "mine.txt line 4"])


def test_an_nb201_cell_sums_each_edge_from_its_own_node_and_outputs_node_3() -> None:
    """Node k is the sum over j < k of op(j -> k)(node j); ``none`` multiplies by zero."""
    from client.measure._modules import NB201Cell

    x = torch.ones(1, 2, 4, 4)
    all_skips = [["skip_connect"], ["skip_connect"] * 2, ["skip_connect"] * 3]
    # node 1 = x, node 2 = x + node 1 = 2x, node 3 = x + node 1 + node 2 = 4x
    assert torch.equal(NB201Cell(all_skips, 2)(x), 4 * x)
    chain = [["skip_connect"], ["none", "skip_connect"], ["none", "none", "skip_connect"]]
    assert torch.equal(NB201Cell(chain, 2)(x), x)  # only the path 0 -> 1 -> 2 -> 3 is open
    assert torch.equal(NB201Cell([["none"], ["none"] * 2, ["none"] * 3], 2)(x), 0 * x)


def test_an_fbnet_block_adds_its_input_back_only_where_the_shapes_allow() -> None:
    from client.measure._modules import FBNetBlock

    x = example_input(1)[:, :1].expand(1, 16, 32, 32).contiguous()
    same = FBNetBlock(16, 16, kernel=3, expansion=1, groups=1, stride=1).eval()
    torch.nn.init.zeros_(same.body[-1][0].weight)  # the projection outputs zeros
    with torch.inference_mode():
        assert torch.equal(same(x), x)
    assert not FBNetBlock(16, 24, 3, 1, 1, 1).residual
    assert not FBNetBlock(16, 16, 3, 1, 1, 2).residual


def _leaves(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [module for module in model.modules() if not list(module.children())]


def test_the_timed_networks_apply_their_ops_in_the_papers_order() -> None:
    """FLOPs and parameters, which the other tests compare, are the same whatever the order of
    ReLU, conv and BN, and with a ReLU more or less: so the timed network could drift from
    the one the tables were measured on unseen (a mutation review, 2026-12-07)."""
    from torch import fx, nn

    from client.measure._modules import FBNetBlock, Zero

    nb201 = _leaves(build_network(MIXED))
    after_relu = [type(nb201[i + 1]) for i, m in enumerate(nb201) if isinstance(m, nn.ReLU)]
    # ReLU-conv-BN everywhere (2 in each of the 2 reductions, 1 in each of 15 cells: MIXED
    # has one nor_conv_1x1), then the head's BN-ReLU-pool.
    assert after_relu == [nn.Conv2d] * (2 * 2 + 15) + [nn.AdaptiveAvgPool2d]
    pools = [m for m in nb201 if isinstance(m, nn.AvgPool2d) and m.kernel_size == 3]
    assert len(pools) == 15 and not any(pool.count_include_pad for pool in pools)
    # none multiplies by zero, reading its input as NB201's code does, not a fresh zero tensor.
    assert [node.target for node in fx.symbolic_trace(Zero()).graph.nodes][1:-1] == ["mul"]
    assert sum(isinstance(m, Zero) for m in nb201) == 2 * 15  # MIXED's two none edges a cell
    fbnet = build_network(FBNET, "fbnet")
    relus = [m for m in _leaves(fbnet) if isinstance(m, nn.ReLU)]
    # The stem's, two in each of the 20 blocks that are not skip, and the head's.
    assert len(relus) == 1 + 2 * 20 + 1
    blocks = [m for m in fbnet.modules() if isinstance(m, FBNetBlock)]
    assert len(blocks) == 20
    for block in blocks:  # after the expand and the depthwise conv, none after the projection
        assert [isinstance(step[-1], nn.ReLU) for step in block.body] == [True, True, False]
    assert isinstance(list(fbnet.children())[-4][-1], nn.ReLU)  # the head: conv-BN-ReLU
