package dev.lancet.engine.nn;

import java.util.function.DoubleUnaryOperator;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;

/**
 * Rotary position embedding in the "rotate half" layout of Hugging Face Llama: feature i pairs with
 * i + d/2, rotated by angle t·fᵢ at position t, fᵢ = θ^(−2i/d) after the checkpoint's {@link RopeScaling}.
 * Frequencies and angles are computed in fp64 whatever the dtype.
 */
public final class Rope {

    private final int headDim;
    /** fᵢ for i < d/2. */
    private final double[] inverseFrequencies;
    /** cos and sin of each position's angles, [seq][d/2] row-major, rounded to the dtype they are applied in. */
    private record Tables(int seq, DataType dtype, double[] cos, double[] sin) {
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

    /**
     * One pass over x in plain Java: ND4J's strided half-views cost a custom op each (six per call, 8% of an
     * evaluation's time). Each product and sum is rounded to x's dtype as the element-wise ops round it; in fp64 a
     * product or difference of floats rounded to float is the float result (53 ≥ 2·24 + 2 bits), so the values
     * are the same bits.
     */
    private INDArray rotate(INDArray x, boolean inverse) {
        int half = headDim / 2;
        int seq = (int) x.size(1);
        Tables t = tables(seq, x.dataType());
        DoubleUnaryOperator round = x.dataType() == DataType.FLOAT ? v -> (float) v : v -> v;
        INDArray in = !x.isView() && x.ordering() == 'c' && Shape.hasDefaultStridesForShape(x) ? x : x.dup('c');
        double[] v = in.data().asDouble();
        double[] r = new double[v.length];
        long rowsPerPosition = x.size(2);
        for (int row = 0; row < v.length / headDim; row++) {
            int base = row * headDim;
            int angles = (int) (row / rowsPerPosition % seq) * half;
            for (int i = 0; i < half; i++) {
                double c = t.cos()[angles + i];
                double s = inverse ? -t.sin()[angles + i] : t.sin()[angles + i];
                double x1 = v[base + i];
                double x2 = v[base + half + i];
                r[base + i] = round.applyAsDouble(round.applyAsDouble(x1 * c) - round.applyAsDouble(x2 * s));
                r[base + half + i] = round.applyAsDouble(round.applyAsDouble(x2 * c) + round.applyAsDouble(x1 * s));
            }
        }
        INDArray out = x.ulike();
        out.data().setData(r);
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
                c[pos * half + i] = dtype == DataType.FLOAT ? (float) Math.cos(angle) : Math.cos(angle);
                s[pos * half + i] = dtype == DataType.FLOAT ? (float) Math.sin(angle) : Math.sin(angle);
            }
        }
        t = new Tables(seq, dtype, c, s);
        cached = t;
        return t;
    }
}
