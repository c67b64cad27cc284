"""ctc.py translators vs real TF: CTCGreedyDecoder's four outputs (sparse decoding, shape, log
probability) with and without merging repeats, custom blanks and per-item lengths."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, rand, tf

raw = tf.raw_ops


def decoder(merge, blank=-1):
    def build(x, lengths):
        return raw.CTCGreedyDecoder(inputs=x, sequence_length=lengths, merge_repeated=merge,
                                    blank_index=blank)
    return build


# few classes over many steps: repeats and blanks are frequent
LOGITS = rand((12, 3, 4), "ctc", -2, 2)
LENGTHS = np.array([12, 7, 0], np.int32)


@pytest.mark.parametrize(("merge", "blank"), [(True, -1), (False, -1), (True, 0)],
                         ids=["merge", "no-merge", "blank-0"])
def test_ctc_greedy_decoder(merge, blank):
    check(decoder(merge, blank), LOGITS, LENGTHS)


def test_ctc_greedy_decoder_dynamic_time():
    check(decoder(True), LOGITS, LENGTHS, shapes=[(None, 3, 4), (3,)],
          feeds=[rand((20, 3, 4), "ctc20", -2, 2), np.array([20, 19, 3], np.int32)])
