"""Window attention masks of AVISM's video module, against hand-written frame-level tables."""
from __future__ import annotations

import torch

from ov_avss.modeling.avism import window_attention_mask


def _frame_table(mask: torch.Tensor, window: int, tokens: int) -> torch.Tensor:
    """[Nw, W*tokens, W*tokens] -> per-frame [Nw, W, W], checking the tokens agree."""
    table = mask[:, ::tokens, ::tokens]
    expanded = table[:, :, None, :, None].expand(-1, -1, tokens, -1, tokens).reshape(mask.shape)
    assert torch.equal(expanded, mask)
    return table


def test_plain_windows_block_padding_keys_only():
    # 5 real frames padded to 6, windows of 3: window 1 holds frames 3, 4 and the padding slot.
    mask = _frame_table(window_attention_mask(5, 6, 3, 2, shift=False), 3, 2)
    assert not mask[0].any()
    expected = torch.tensor([[0, 0, 1], [0, 0, 1], [0, 0, 0]], dtype=torch.bool)  # padding row sees all
    assert torch.equal(mask[1], expected)


def test_shifted_windows_do_not_attend_across_the_wrap():
    # 6 frames, windows of 4 (8 slots, 2 padding), shift 2: rolled slots hold frames
    # [6p, 7p, 0, 1 | 2, 3, 4, 5]; window 0 mixes wrapped padding with frames 0, 1.
    mask = _frame_table(window_attention_mask(6, 8, 4, 1, shift=True), 4, 1)
    assert not mask[1].any()
    expected = torch.tensor(
        [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=torch.bool
    )
    assert torch.equal(mask[0], expected)


def test_shifted_wrap_blocks_real_frames_of_the_other_side():
    # 8 real frames, windows of 4, shift 2: window 0 = frames [6, 7, 0, 1], the two sides
    # (end of the video, start of the video) must not see each other.
    mask = _frame_table(window_attention_mask(8, 8, 4, 3, shift=True), 4, 3)
    side = torch.tensor([1, 1, 0, 0])
    assert torch.equal(mask[0], side[:, None] != side[None, :])
    assert not mask[1].any()
