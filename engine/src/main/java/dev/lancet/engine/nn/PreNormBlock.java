package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/** Pre-norm residual block (Llama, OPT): h = x + attn(norm₁ x); y = h + mlp(norm₂ h). */
public record PreNormBlock(Norm attentionNorm, Attention attention, Norm feedForwardNorm, FeedForward feedForward)
        implements DecoderBlock {

    @Override
    public State forward(INDArray x, int batch, int seq) {
        Norm.State n1 = attentionNorm.forward(x);
        Attention.State a = attention.forward(n1.output(), batch, seq);
        INDArray h = a.output().addi(x);
        Norm.State n2 = feedForwardNorm.forward(h);
        FeedForward.State f = feedForward.forward(n2.output());
        return new State(n1, a, n2, f, f.output().addi(h));
    }

    /** dh = dy + norm₂ᵀ(mlpᵀ dy); dx = dh + norm₁ᵀ(attnᵀ dh). */
    @Override
    public INDArray backward(State s, INDArray dy, Backprop backprop, int batch, int seq) {
        INDArray dh = feedForwardNorm.backward(s.feedForwardNorm(), feedForward.backward(s.feedForward(), dy, backprop),
                backprop);
        dh.addi(dy);
        INDArray dx = attentionNorm.backward(s.attentionNorm(),
                attention.backward(s.attention(), dh, backprop, batch, seq), backprop);
        return dx.addi(dh);
    }

    @Override
    public DecoderBlock with(Norm attentionNorm, Attention attention, Norm feedForwardNorm, FeedForward feedForward) {
        return new PreNormBlock(attentionNorm, attention, feedForwardNorm, feedForward);
    }
}
