package dev.lancet.engine.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Post-norm residual block (OPT-350m, do_layer_norm_before=false): each norm follows its residual add,
 * h = norm₁(x + attn x); y = norm₂(h + mlp h).
 */
public record PostNormBlock(Norm attentionNorm, Attention attention, Norm feedForwardNorm, FeedForward feedForward)
        implements DecoderBlock {

    @Override
    public State forward(INDArray x, int batch, int seq) {
        Attention.State a = attention.forward(x, batch, seq);
        Norm.State n1 = attentionNorm.forward(a.output().addi(x));
        INDArray h = n1.output();
        FeedForward.State f = feedForward.forward(h);
        Norm.State n2 = feedForwardNorm.forward(f.output().addi(h));
        return new State(n1, a, n2, f, n2.output());
    }

    /**
     * With the sums u₁ = x + attn x and u₂ = h + mlp h: du₂ = norm₂ᵀ dy; dh = du₂ + mlpᵀ du₂;
     * du₁ = norm₁ᵀ dh; dx = du₁ + attnᵀ du₁.
     */
    @Override
    public INDArray backward(State s, INDArray dy, Backprop backprop, int batch, int seq) {
        INDArray dSum2 = feedForwardNorm.backward(s.feedForwardNorm(), dy, backprop);
        INDArray dh = feedForward.backward(s.feedForward(), dSum2, backprop).addi(dSum2);
        INDArray dSum1 = attentionNorm.backward(s.attentionNorm(), dh, backprop);
        return attention.backward(s.attention(), dSum1, backprop, batch, seq).addi(dSum1);
    }

    @Override
    public DecoderBlock with(Norm attentionNorm, Attention attention, Norm feedForwardNorm, FeedForward feedForward) {
        return new PostNormBlock(attentionNorm, attention, feedForwardNorm, feedForward);
    }
}
