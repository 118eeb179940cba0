"""ASTER's attention decoder: a GRU that reads the encoder features through additive attention.

One step, from the previous GRU state s (N, s_dim) and the previous symbol y (N,):

* attention ``alpha = softmax_t(wEmbed(tanh(sEmbed(s) + xEmbed(x_t))))`` over the T features;
* context ``c = sum_t alpha_t x_t`` (N, x_dim);
* GRU input ``[tgt_embedding(y), c]`` (embedding first), new state s', logits ``fc(s')``.

The first step starts from an all-zero state with the start symbol ``num_classes`` (the extra,
last row of ``tgt_embedding``). Decoding stops at ``EOS``. Training uses teacher forcing.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["AttentionRecognitionHead", "AttentionUnit", "DecoderUnit"]


class AttentionUnit(nn.Module):
    """Additive (Bahdanau) attention weights over the encoder features."""

    def __init__(self, s_dim: int, x_dim: int, att_dim: int) -> None:
        super().__init__()
        self.sEmbed = nn.Linear(s_dim, att_dim)
        self.xEmbed = nn.Linear(x_dim, att_dim)
        self.wEmbed = nn.Linear(att_dim, 1)

    def forward(self, projected_features: Tensor, state: Tensor) -> Tensor:
        """Attention weights.

        Args:
            projected_features: (N, T, att_dim), ``xEmbed`` of the features (fixed per image,
                so computed once per sequence).
            state: (N, s_dim), the previous GRU state.

        Returns:
            (N, T), non-negative, summing to 1 over T.
        """
        energy = torch.tanh(projected_features + self.sEmbed(state).unsqueeze(1))
        return self.wEmbed(energy).squeeze(2).softmax(dim=1)


class DecoderUnit(nn.Module):
    """One decoding step: attention, context, GRU, classifier."""

    def __init__(self, s_dim: int, x_dim: int, num_classes: int, att_dim: int) -> None:
        super().__init__()
        self.attention_unit = AttentionUnit(s_dim, x_dim, att_dim)
        self.tgt_embedding = nn.Embedding(num_classes + 1, att_dim)  # + the start symbol
        self.gru = nn.GRU(input_size=x_dim + att_dim, hidden_size=s_dim, batch_first=True)
        self.fc = nn.Linear(s_dim, num_classes)

    def forward(
        self, features: Tensor, projected_features: Tensor, state: Tensor, previous: Tensor
    ) -> tuple[Tensor, Tensor]:
        """One step.

        Args:
            features: (N, T, x_dim); projected_features: (N, T, att_dim), their ``xEmbed``.
            state: (N, s_dim); previous: int64 (N,), the previous symbol.

        Returns:
            logits (N, num_classes) and the new state (N, s_dim).
        """
        alpha = self.attention_unit(projected_features, state)
        context = torch.bmm(alpha.unsqueeze(1), features).squeeze(1)
        step_input = torch.cat([self.tgt_embedding(previous), context], dim=1)
        output, new_state = self.gru(step_input.unsqueeze(1), state.unsqueeze(0))
        return self.fc(output.squeeze(1)), new_state.squeeze(0)


class AttentionRecognitionHead(nn.Module):
    """Runs :class:`DecoderUnit` over a sequence: teacher forcing, greedy or beam search.

    Args:
        num_classes: C, including EOS / PADDING / UNKNOWN (97 for ASTER).
        in_channels: x_dim, the encoder's feature size (512).
        s_dim: GRU state size (512); att_dim: attention and embedding size (512).
        eos_index: the class that ends a word (94 for ASTER), padding_index: the class written
            after it in decoded outputs (95).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        s_dim: int,
        att_dim: int,
        eos_index: int,
        padding_index: int,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.s_dim = s_dim
        self.eos_index = eos_index
        self.padding_index = padding_index
        self.decoder = DecoderUnit(s_dim, in_channels, num_classes, att_dim)

    def _start(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """xEmbed of the features, the zero state and the start symbols."""
        batch = features.shape[0]
        projected = self.decoder.attention_unit.xEmbed(features)
        state = features.new_zeros(batch, self.s_dim)
        start = torch.full((batch,), self.num_classes, dtype=torch.long, device=features.device)
        return projected, state, start

    def forward(self, features: Tensor, targets: Tensor, lengths: Tensor) -> Tensor:
        """Teacher forcing: step i reads target i - 1 (the start symbol at step 0).

        Args:
            features: (N, T, x_dim); targets: int (N, L') with L' >= max(lengths);
            lengths: int (N,), label length + 1.

        Returns:
            logits (N, max(lengths), num_classes).
        """
        projected, state, previous = self._start(features)
        steps = int(lengths.max())
        targets = targets.to(features.device).long()
        outputs = []
        for step in range(steps):
            if step:
                previous = targets[:, step - 1]
            logits, state = self.decoder(features, projected, state, previous)
            outputs.append(logits)
        return torch.stack(outputs, dim=1)

    def _after_eos(self, ids: Tensor) -> Tensor:
        """bool (N, L): the steps after each row's first EOS."""
        is_eos = (ids == self.eos_index).long()
        return (is_eos.cumsum(dim=1) - is_eos) > 0

    def pad_after_eos(self, ids: Tensor, probs: Tensor) -> tuple[Tensor, Tensor]:
        """PADDING (probability 1) after every row's first EOS; shapes unchanged."""
        after_eos = self._after_eos(ids)
        return ids.masked_fill(after_eos, self.padding_index), probs.masked_fill(after_eos, 1.0)

    def _finish(self, ids: Tensor, probs: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`pad_after_eos`, then trim to the longest row (EOS included)."""
        ids, probs = self.pad_after_eos(ids, probs)
        length = int((~self._after_eos(ids)).sum(dim=1).max()) if ids.numel() else 0
        return ids[:, :length], probs[:, :length]

    @torch.no_grad()
    def greedy_decode(
        self, features: Tensor, max_length: int, *, fixed_length: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Most likely symbol at every step, until every row has emitted EOS or max_length.

        Args:
            features: (N, T, x_dim).
            max_length: most steps, EOS included.
            fixed_length: always run ``max_length`` steps and keep them all, with no
                data-dependent control flow (what a traced export graph needs); the rows are
                those of the default call, followed by more PADDING.

        Returns:
            ids int64 (N, L) and their probabilities (N, L); after a row's EOS come PADDING ids
            with probability 1; L is the longest row (EOS included), at most max_length.
        """
        projected, state, previous = self._start(features)
        ids, probs = [], []
        done = torch.zeros(features.shape[0], dtype=torch.bool, device=features.device)
        for _ in range(max_length):
            logits, state = self.decoder(features, projected, state, previous)
            prob, previous = logits.float().softmax(dim=1).max(dim=1)
            ids.append(previous)
            probs.append(prob)
            if fixed_length:
                continue
            done |= previous == self.eos_index
            if bool(done.all()):
                break
        ids_tensor, probs_tensor = torch.stack(ids, dim=1), torch.stack(probs, dim=1)
        if fixed_length:
            return self.pad_after_eos(ids_tensor, probs_tensor)
        return self._finish(ids_tensor, probs_tensor)

    @torch.no_grad()
    def beam_search(
        self, features: Tensor, beam_width: int, max_length: int
    ) -> tuple[Tensor, Tensor]:
        """The most likely sequence (sum of log-probabilities, no length normalisation).

        A hypothesis ends when it emits EOS; it then competes with the hypotheses still open. The
        search stops at max_length, or once, for every image, the best ended hypothesis scores at
        least as high as every open one (scores only fall, so none can overtake it). With
        ``beam_width=1`` this is exactly :meth:`greedy_decode`.

        Returns:
            ids int64 (N, L) and per-step probabilities (N, L), as :meth:`greedy_decode`.
        """
        batch, _, _ = features.shape
        width, classes = beam_width, self.num_classes
        device = features.device
        beam_features = features.repeat_interleave(width, dim=0)  # (N*K, T, D)
        projected, state, previous = self._start(beam_features)
        scores = torch.full((batch, width), float("-inf"), device=device)
        scores[:, 0] = 0.0
        history = torch.empty(batch, width, 0, dtype=torch.long, device=device)
        history_logp = torch.empty(batch, width, 0, device=device)
        best_score = torch.full((batch,), float("-inf"), device=device)
        best_ids = torch.full(
            (batch, max_length), self.padding_index, dtype=torch.long, device=device
        )
        best_logp = torch.zeros(batch, max_length, device=device)
        batch_offset = torch.arange(batch, device=device)[:, None] * width

        for step in range(max_length):
            logits, state = self.decoder(beam_features, projected, state, previous)
            log_probs = logits.float().log_softmax(dim=1).view(batch, width, classes)
            candidates = (scores[:, :, None] + log_probs).view(batch, width * classes)
            top_scores, top_index = candidates.topk(width, dim=1)
            origin = top_index // classes  # (N, K), the beam each candidate extends
            symbol = top_index % classes
            symbol_logp = log_probs.view(batch, width * classes).gather(1, top_index)

            gather = origin[:, :, None].expand(-1, -1, history.shape[2])
            history = torch.cat([history.gather(1, gather), symbol[:, :, None]], dim=2)
            history_logp = torch.cat([history_logp.gather(1, gather), symbol_logp[:, :, None]], 2)
            state = state[(origin + batch_offset).view(-1)]

            ended = (symbol == self.eos_index) & torch.isfinite(top_scores)
            ended_score = top_scores.masked_fill(~ended, float("-inf"))
            candidate_score, candidate = ended_score.max(dim=1)
            improved = candidate_score > best_score
            if bool(improved.any()):
                rows = improved.nonzero().squeeze(1)
                best_score[rows] = candidate_score[rows]
                best_ids[rows, : step + 1] = history[rows, candidate[rows]]
                best_logp[rows, : step + 1] = history_logp[rows, candidate[rows]]
            scores = top_scores.masked_fill(ended, float("-inf"))
            previous = symbol.view(-1)
            if bool((best_score >= scores.max(dim=1).values).all()):
                break

        # Rows whose best hypothesis is still open (no EOS within max_length).
        open_score, open_beam = scores.max(dim=1)
        use_open = open_score > best_score
        if bool(use_open.any()):
            rows = use_open.nonzero().squeeze(1)
            steps = history.shape[2]
            best_ids[rows, :steps] = history[rows, open_beam[rows]]
            best_logp[rows, :steps] = history_logp[rows, open_beam[rows]]
        return self._finish(best_ids, best_logp.exp())
