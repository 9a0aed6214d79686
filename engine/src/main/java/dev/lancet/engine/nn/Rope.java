package dev.lancet.engine.nn;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import dev.lancet.engine.linalg.Workspaces;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Rotary position embedding in the "rotate half" layout of Hugging Face Llama: feature i pairs with
 * i + d/2, rotated by angle t·fᵢ at position t, fᵢ = θ^(−2i/d) after the checkpoint's {@link RopeScaling}.
 * Frequencies and angles are computed in fp64 whatever the dtype.
 */
public final class Rope {

    private final int headDim;
    /** fᵢ for i < d/2. */
    private final double[] inverseFrequencies;
    /** cos/sin tables shaped [seq, 1, d/2] so they broadcast over batch and heads. */
    private record Tables(int seq, DataType dtype, INDArray cos, INDArray sin) {
    }

    private volatile Tables cached;

    public Rope(int headDim, double theta, RopeScaling scaling) {
        this.headDim = headDim;
        this.inverseFrequencies = new double[headDim / 2];
        for (int i = 0; i < inverseFrequencies.length; i++) {
            inverseFrequencies[i] = scaling.scale(Math.pow(theta, -2.0 * i / headDim));
        }
    }

    /** Rotates x [batch, seq, heads, headDim] (positions 0..seq−1) into a new array. */
    public INDArray apply(INDArray x) {
        return rotate(x, false);
    }

    /** The transpose of {@link #apply}: maps the gradient of the rotated array back. */
    public INDArray backward(INDArray dy) {
        return rotate(dy, true);
    }

    private INDArray rotate(INDArray x, boolean inverse) {
        int half = headDim / 2;
        Tables t = tables((int) x.size(1), x.dataType());
        INDArray cos = t.cos();
        INDArray x1 = x.get(all(), all(), all(), interval(0, half));
        INDArray x2 = x.get(all(), all(), all(), interval(half, headDim));
        INDArray s = inverse ? t.sin().neg() : t.sin();
        INDArray out = x.ulike();
        out.get(all(), all(), all(), interval(0, half)).assign(x1.mul(cos).subi(x2.mul(s)));
        out.get(all(), all(), all(), interval(half, headDim)).assign(x2.mul(cos).addi(x1.mul(s)));
        return out;
    }

    private Tables tables(int seq, DataType dtype) {
        Tables t = cached;
        if (t != null && t.seq() == seq && t.dtype() == dtype) {
            return t;
        }
        int half = headDim / 2;
        double[] c = new double[seq * half];
        double[] s = new double[seq * half];
        for (int pos = 0; pos < seq; pos++) {
            for (int i = 0; i < half; i++) {
                double angle = pos * inverseFrequencies[i];
                c[pos * half + i] = Math.cos(angle);
                s[pos * half + i] = Math.sin(angle);
            }
        }
        t = Workspaces.outside(() -> new Tables(seq, dtype,
                Nd4j.createFromArray(c).reshape(seq, 1, half).castTo(dtype),
                Nd4j.createFromArray(s).reshape(seq, 1, half).castTo(dtype)));
        cached = t;
        return t;
    }
}
