package dev.lancet.engine.curvature;

import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Workspaces;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Running KFAC sums of one linear layer: Σ ããᵀ over its inputs (ã = [a; 1] when the layer has a bias) and
 * Σ ggᵀ over the gradients of the summed NLL with respect to its outputs, over {@code tokens} labelled
 * positions. Sums, not means, so that states merge by addition in any order; fp64 always.
 *
 * <p>Only the upper triangles are accumulated (SYRK: half a GEMM's work); the full symmetric matrices are
 * made when read.
 */
public final class KfacFactor {

    private final String layer;
    private final boolean bias;
    private final INDArray upperA;
    private final INDArray upperG;
    private long tokens;

    private KfacFactor(String layer, boolean bias, INDArray upperA, INDArray upperG, long tokens) {
        this.layer = layer;
        this.bias = bias;
        this.upperA = upperA;
        this.upperG = upperG;
        this.tokens = tokens;
    }

    /** An empty factor for a layer with {@code in} inputs (plus one for the bias) and {@code out} outputs. */
    public static KfacFactor empty(String layer, int in, int out, boolean bias) {
        int dimA = in + (bias ? 1 : 0);
        return Workspaces.outside(() -> new KfacFactor(layer, bias, Nd4j.zeros(DataType.DOUBLE, dimA, dimA),
                Nd4j.zeros(DataType.DOUBLE, out, out), 0));
    }

    /** Adopts full symmetric running sums Σ ããᵀ, Σ ggᵀ (e.g. received from another node). */
    public static KfacFactor fromSums(String layer, boolean bias, INDArray sumA, INDArray sumG, long tokens) {
        return Workspaces.outside(() -> new KfacFactor(layer, bias, upper(sumA), upper(sumG), tokens));
    }

    /** Rebuilds running sums from stored means A, G over {@code tokens} positions. */
    public static KfacFactor fromMeans(String layer, boolean bias, INDArray a, INDArray g, long tokens) {
        return Workspaces.outside(() -> new KfacFactor(layer, bias, upper(a).muli(tokens), upper(g).muli(tokens), tokens));
    }

    private static INDArray upper(INDArray symmetric) {
        if (symmetric.rank() != 2 || symmetric.rows() != symmetric.columns()) {
            throw new IllegalArgumentException("KFAC factors are square, got " + Arrays.toString(symmetric.shape()));
        }
        int n = (int) symmetric.rows();
        INDArray upper = symmetric.castTo(DataType.DOUBLE).dup('c');
        DoubleBuffer values = upper.data().asNioDouble();
        for (int i = 1; i < n; i++) {
            for (int j = 0; j < i; j++) {
                values.put(i * n + j, 0.0); // Nd4j.triu crashes (M2.1); zero the strict lower part here
            }
        }
        return upper;
    }

    public String layer() {
        return layer;
    }

    public boolean hasBias() {
        return bias;
    }

    public long tokens() {
        return tokens;
    }

    /** Rows of A: the layer's inputs, plus one with a bias. */
    public int dimA() {
        return (int) upperA.rows();
    }

    /** Rows of G: the layer's outputs. */
    public int dimG() {
        return (int) upperG.rows();
    }

    /**
     * Folds in one block: a [n, in] inputs and g [n, out] output gradients of n labelled positions. With
     * {@link Precision#FP32} each block's products are one fp32 SYRK, added to the fp64 sums; temporaries go
     * to the current workspace.
     */
    public void add(INDArray a, INDArray g, Precision precision) {
        if (a.rows() != g.rows() || a.columns() + (bias ? 1 : 0) != upperA.columns() || g.columns() != upperG.columns()) {
            throw new IllegalArgumentException(layer + ": block a" + Arrays.toString(a.shape()) + ", g"
                    + Arrays.toString(g.shape()) + " does not fit A " + upperA.columns() + ", G " + upperG.columns());
        }
        INDArray input = a.castTo(precision.blockType());
        fold(input, upperA, precision);
        fold(g.castTo(precision.blockType()), upperG, precision);
        if (bias) {
            // ã = [a; 1]: the last column of Σ ããᵀ is Σ a, its corner the count (no copy of a with a 1 column)
            int in = (int) a.columns();
            DoubleBuffer sums = upperA.data().asNioDouble();
            INDArray columnSums = input.sum(0).castTo(DataType.DOUBLE);
            for (int i = 0; i < in; i++) {
                sums.put(i * (in + 1) + in, sums.get(i * (in + 1) + in) + columnSums.getDouble(i));
            }
            sums.put(in * (in + 1) + in, sums.get(in * (in + 1) + in) + a.rows());
        }
        tokens += a.rows();
    }

    /** upper[:d, :d] += xᵀx (upper triangle) for x [n, d]. */
    private static void fold(INDArray x, INDArray upper, Precision precision) {
        if (precision == Precision.FP64) {
            Blas.syrkUpper(x, upper, 1.0, 1.0);
            return;
        }
        int d = (int) x.columns();
        int stride = (int) upper.columns();
        INDArray block = Blas.syrkUpper(x, Nd4j.createUninitialized(DataType.FLOAT, d, d), 1.0, 0.0);
        FloatBuffer products = block.data().asNioFloat();
        DoubleBuffer sums = upper.data().asNioDouble();
        for (int i = 0; i < d; i++) { // only the upper triangle: SYRK leaves the lower one unwritten
            for (int j = i; j < d; j++) {
                sums.put(i * stride + j, sums.get(i * stride + j) + products.get(i * d + j));
            }
        }
    }

    /** Adds another partial state of the same layer (data seen elsewhere or earlier). */
    public void merge(KfacFactor other) {
        if (!other.layer.equals(layer) || !Arrays.equals(other.upperA.shape(), upperA.shape())
                || !Arrays.equals(other.upperG.shape(), upperG.shape())) {
            throw new IllegalArgumentException("cannot merge factors of " + other.layer + " into " + layer);
        }
        upperA.addi(other.upperA);
        upperG.addi(other.upperG);
        tokens += other.tokens;
    }

    /** Σ ããᵀ (fp64, a new symmetric array in the current workspace, if any). */
    public INDArray sumA() {
        return symmetric(upperA);
    }

    /** Σ ggᵀ (fp64, a new symmetric array in the current workspace, if any). */
    public INDArray sumG() {
        return symmetric(upperG);
    }

    /** A = Σ ããᵀ / n (fp64, a new array in the current workspace, if any). */
    public INDArray a() {
        return sumA().divi(Math.max(tokens, 1));
    }

    /** G = Σ ggᵀ / n (fp64, a new array in the current workspace, if any). */
    public INDArray g() {
        return sumG().divi(Math.max(tokens, 1));
    }

    public KfacFactor copy() {
        return Workspaces.outside(() -> new KfacFactor(layer, bias, upperA.dup(), upperG.dup(), tokens));
    }

    /**
     * Frees the sums' native memory now instead of at a later garbage collection (the sums of a large model
     * are gigabytes); the factor must not be used afterwards.
     */
    public void release() {
        upperA.close();
        upperG.close();
    }

    /** U + Uᵀ with U's diagonal counted once. */
    private static INDArray symmetric(INDArray upper) {
        INDArray full = upper.add(upper.transpose());
        int n = (int) upper.rows();
        DoubleBuffer values = full.data().asNioDouble();
        for (int i = 0; i < n; i++) {
            values.put(i * (n + 1), values.get(i * (n + 1)) / 2);
        }
        return full;
    }
}
