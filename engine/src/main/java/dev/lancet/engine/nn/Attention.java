package dev.lancet.engine.nn;

import dev.lancet.engine.linalg.Blas;
import java.util.List;
import java.util.function.UnaryOperator;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Causal multi-head self-attention with grouped key/value heads (GQA; plain MHA when kvHeads = heads).
 *
 * <p>Query head h uses key/value head h / group, as Hugging Face's repeat_kv. Instead of repeating k and v,
 * the queries of one group are stacked: scores are [batch·kvHeads, group·seq, seq], so one batched GEMM
 * serves the whole group and dK, dV sum over the group for free.
 */
public record Attention(Linear q, Linear k, Linear v, Linear o, int heads, int kvHeads, int headDim, Rope rope) {

    /** Saved for backward; q is already scaled by 1/sqrt(headDim). */
    public record State(INDArray input, INDArray q, INDArray k, INDArray v, INDArray probs, INDArray context,
                        INDArray output) {
    }

    /** q, k, v, o. */
    public List<Linear> linears() {
        return List.of(q, k, v, o);
    }

    /** The same attention with q, k and v replaced by {@code f} of them. */
    public Attention mapInputs(UnaryOperator<Linear> f) {
        return new Attention(f.apply(q), f.apply(k), f.apply(v), o, heads, kvHeads, headDim, rope);
    }

    /** The same attention with o replaced by {@code f} of it. */
    public Attention mapOutput(UnaryOperator<Linear> f) {
        return new Attention(q, k, v, f.apply(o), heads, kvHeads, headDim, rope);
    }

    /** The same attention with each linear layer replaced by {@code replace}'s result. */
    public Attention withLinears(UnaryOperator<Linear> replace) {
        return mapInputs(replace).mapOutput(replace);
    }

    private int group() {
        return heads / kvHeads;
    }

    public State forward(INDArray x, int batch, int seq) {
        INDArray qs = positions(q.forward(x), batch, seq, heads).muli(1.0 / Math.sqrt(headDim));
        INDArray ks = positions(k.forward(x), batch, seq, kvHeads);
        INDArray vs = v.forward(x).reshape('c', batch, seq, kvHeads, headDim);
        INDArray qg = toGroups(qs, batch, seq);
        INDArray kg = toKv(ks, batch, seq);
        INDArray vg = toKv(vs, batch, seq);
        INDArray scores = Blas.batchedGemm(qg, false, kg, true);
        scores.addi(CausalMask.of(group(), seq, scores.dataType()));
        INDArray probs = Softmax.rowsInPlace(scores);
        INDArray context = fromGroups(Blas.batchedGemm(probs, false, vg, false), batch, seq);
        return new State(x, qg, kg, vg, probs, context, o.forward(context));
    }

    /** Returns dx, reporting q, k, v and o to the backprop. */
    public INDArray backward(State s, INDArray dy, Backprop backprop, int batch, int seq) {
        INDArray dContext = toGroups(o.backward(s.context(), dy, backprop).reshape('c', batch, seq, heads, headDim),
                batch, seq);
        INDArray dProbs = Blas.batchedGemm(dContext, false, s.v(), true);
        INDArray dv = Blas.batchedGemm(s.probs(), true, dContext, false);
        // softmax backward: dS = P ∘ (dP − Σ_j dP∘P)
        INDArray rowDot = dProbs.mul(s.probs()).sum(true, 2);
        INDArray dScores = dProbs.subi(rowDot).muli(s.probs());
        INDArray dq = Blas.batchedGemm(dScores, false, s.k(), false).muli(1.0 / Math.sqrt(headDim));
        INDArray dk = Blas.batchedGemm(dScores, true, s.q(), false);
        INDArray dqFlat = unpositions(fromGroupsToBthd(dq, batch, seq), heads, batch, seq);
        INDArray dkFlat = unpositions(fromKv(dk, batch, seq), kvHeads, batch, seq);
        INDArray dvFlat = fromKv(dv, batch, seq).reshape('c', (long) batch * seq, (long) kvHeads * headDim);
        INDArray dx = q.backward(s.input(), dqFlat, backprop);
        dx.addi(k.backward(s.input(), dkFlat, backprop));
        return dx.addi(v.backward(s.input(), dvFlat, backprop));
    }

    /** [batch·seq, n·d] → [batch, seq, n, d], rotated when the model uses RoPE. */
    private INDArray positions(INDArray flat, int batch, int seq, int n) {
        INDArray bthd = flat.reshape('c', batch, seq, n, headDim);
        return rope == null ? bthd : rope.apply(bthd);
    }

    private INDArray unpositions(INDArray bthd, int n, int batch, int seq) {
        INDArray grad = rope == null ? bthd : rope.backward(bthd);
        return grad.reshape('c', (long) batch * seq, (long) n * headDim);
    }

    /** [batch, seq, heads, d] → [batch·kvHeads, group·seq, d]. */
    private INDArray toGroups(INDArray bthd, int batch, int seq) {
        return bthd.reshape('c', batch, seq, kvHeads, group(), headDim).permute(0, 2, 3, 1, 4).dup('c')
                .reshape('c', (long) batch * kvHeads, (long) group() * seq, headDim);
    }

    /** [batch·kvHeads, group·seq, d] → [batch, seq, heads, d]. */
    private INDArray fromGroupsToBthd(INDArray grouped, int batch, int seq) {
        return grouped.reshape('c', batch, kvHeads, group(), seq, headDim).permute(0, 3, 1, 2, 4).dup('c')
                .reshape('c', batch, seq, heads, headDim);
    }

    private INDArray fromGroups(INDArray grouped, int batch, int seq) {
        return fromGroupsToBthd(grouped, batch, seq).reshape('c', (long) batch * seq, (long) heads * headDim);
    }

    /** [batch, seq, kvHeads, d] → [batch·kvHeads, seq, d]. */
    private INDArray toKv(INDArray bthd, int batch, int seq) {
        return bthd.permute(0, 2, 1, 3).dup('c').reshape('c', (long) batch * kvHeads, seq, headDim);
    }

    /** [batch·kvHeads, seq, d] → [batch, seq, kvHeads, d]. */
    private INDArray fromKv(INDArray kv, int batch, int seq) {
        return kv.reshape('c', batch, kvHeads, seq, headDim).permute(0, 2, 1, 3).dup('c');
    }
}
