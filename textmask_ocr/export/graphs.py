"""Traceable inference graphs of the project's models, the modules :mod:`.onnx` exports.

Each graph wraps a model and computes what its PyTorch inference API computes, with no
data-dependent control flow, so a trace holds for every batch size and input width:

- :class:`RecognizerGraph`: the model input of :func:`textmask_ocr.recognition.preprocess.
  batch_inputs` (N, C, H, W): image channels normalised ``(x - mean) / std``, the mask channel
  (if any) in [0, 1] -> ``ids`` int64 (N, L) and their probabilities ``probs`` (N, L), what
  ``model.predict`` gives and :meth:`LabelCodec.decode` reads. CRNN: greedy CTC frames,
  L = W // 4 + 1. ASTER: greedy attention decoding unrolled over ``max_length`` steps (no early
  stop), PADDING with probability 1 after each row's EOS, so L = ``max_length`` (PyTorch trims
  to the longest row); beam search is not exported.
- :class:`SegmenterGraph`: the normalised image (N, C, H, W) of
  :func:`segmentation.configs.normalize_image`, sides multiples of 16 -> ``text`` (N, 1, H, W)
  and, for two-branch networks, ``region`` probabilities in [0, 1]: both phases in one graph
  for a two-phase network (O'_T, O'_P), the open loop alone for a phase-1 one (O_T, O_P).
"""

from __future__ import annotations

from torch import Tensor, nn

from recognizers import ASTER


class RecognizerGraph(nn.Module):
    """Greedy recognition: input (N, C, H, W) -> ``(ids, probs)``, both (N, L).

    Args:
        model: a CRNN or ASTER built by :func:`recognizers.build_recognizer`.
        max_length: ASTER decoding steps, EOS included (default: the model's).
    """

    def __init__(self, model: nn.Module, max_length: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.max_length = getattr(model, "max_length", None) if max_length is None else max_length

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        if isinstance(self.model, ASTER):
            features = self.model.encode(images)
            return self.model.decoder.greedy_decode(features, self.max_length, fixed_length=True)
        return self.model.predict(images)


class SegmenterGraph(nn.Module):
    """Segmentation: normalised image (N, C, H, W) -> ``text`` (N, 1, H, W) [, ``region``]."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.phases = model.config.phases

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        outputs = self.model(image, phases=self.phases)
        region = outputs.final_region
        return (outputs.final_text,) if region is None else (outputs.final_text, region)
