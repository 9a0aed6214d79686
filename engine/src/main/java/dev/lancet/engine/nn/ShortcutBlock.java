package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * SliceGPT's pre-norm block over a rotated, possibly narrowed residual stream: h = x S₁ + attn(norm₁ x);
 * y = h S₂ + mlp(norm₂ h). The shortcuts S₁ (in → mid) and S₂ (mid → out) carry the residual from one block's
 * basis and width to the next; they are stored as bias-free linear layers (weight [out, in] = Sᵀ) that backward
 * does not report, since pruning and curvature concern the block's own linears.
 */
public record ShortcutBlock(Norm attentionNorm, Attention attention, Linear attentionShortcut, Norm feedForwardNorm,
                            FeedForward feedForward, Linear mlpShortcut) implements DecoderBlock {

    @Override
    public State forward(INDArray x, int batch, int seq) {
        Norm.State n1 = attentionNorm.forward(x);
        Attention.State a = attention.forward(n1.output(), batch, seq);
        INDArray h = a.output().addi(attentionShortcut.forward(x));
        Norm.State n2 = feedForwardNorm.forward(h);
        FeedForward.State f = feedForward.forward(n2.output());
        return new State(n1, a, n2, f, f.output().addi(mlpShortcut.forward(h)));
    }

    /** The residual stream between attention and MLP, h = x S₁ + attn(norm₁ x): what SliceGPT's middle PCA sees. */
    public INDArray middle(INDArray x, int batch, int seq) {
        return attention.forward(attentionNorm.forward(x).output(), batch, seq).output()
                .addi(attentionShortcut.forward(x));
    }

    /** dh = dy S₂ᵀ + norm₂ᵀ(mlpᵀ dy); dx = dh S₁ᵀ + norm₁ᵀ(attnᵀ dh). */
    @Override
    public INDArray backward(State s, INDArray dy, Backprop backprop, int batch, int seq) {
        INDArray dh = feedForwardNorm.backward(s.feedForwardNorm(), feedForward.backward(s.feedForward(), dy, backprop),
                backprop);
        dh.addi(mlpShortcut.backward(null, dy, backprop));
        INDArray dx = attentionNorm.backward(s.attentionNorm(),
                attention.backward(s.attention(), dh, backprop, batch, seq), backprop);
        return dx.addi(attentionShortcut.backward(null, dh, backprop));
    }

    @Override
    public DecoderBlock with(Norm attentionNorm, Attention attention, Norm feedForwardNorm, FeedForward feedForward) {
        return new ShortcutBlock(attentionNorm, attention, attentionShortcut, feedForwardNorm, feedForward,
                mlpShortcut);
    }
}
