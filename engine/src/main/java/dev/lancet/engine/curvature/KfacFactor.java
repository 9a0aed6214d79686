package dev.lancet.engine.curvature;

import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Workspaces;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Running KFAC sums of one linear layer: Σ ããᵀ over its inputs (ã = [a; 1] when the layer has a bias) and
 * Σ ggᵀ over the gradients of the summed NLL with respect to its outputs, over {@code tokens} labelled
 * positions. Sums, not means, so that states merge by addition in any order; fp64 always.
 */
public final class KfacFactor {

    private final String layer;
    private final boolean bias;
    private final INDArray sumA;
    private final INDArray sumG;
    private long tokens;

    private KfacFactor(String layer, boolean bias, INDArray sumA, INDArray sumG, long tokens) {
        this.layer = layer;
        this.bias = bias;
        this.sumA = sumA;
        this.sumG = sumG;
        this.tokens = tokens;
    }

    /** An empty factor for a layer with {@code in} inputs (plus one for the bias) and {@code out} outputs. */
    public static KfacFactor empty(String layer, int in, int out, boolean bias) {
        int dimA = in + (bias ? 1 : 0);
        return Workspaces.outside(() -> new KfacFactor(layer, bias, Nd4j.zeros(DataType.DOUBLE, dimA, dimA),
                Nd4j.zeros(DataType.DOUBLE, out, out), 0));
    }

    /** Rebuilds running sums from stored means A, G over {@code tokens} positions. */
    public static KfacFactor fromMeans(String layer, boolean bias, INDArray a, INDArray g, long tokens) {
        return Workspaces.outside(() -> new KfacFactor(layer, bias, a.castTo(DataType.DOUBLE).mul(tokens),
                g.castTo(DataType.DOUBLE).mul(tokens), tokens));
    }

    /** Adopts running sums (e.g. received from another node); the arrays must be fp64 and are not copied. */
    public static KfacFactor fromSums(String layer, boolean bias, INDArray sumA, INDArray sumG, long tokens) {
        if (sumA.dataType() != DataType.DOUBLE || sumG.dataType() != DataType.DOUBLE) {
            throw new IllegalArgumentException(layer + ": running sums must be fp64");
        }
        return new KfacFactor(layer, bias, sumA, sumG, tokens);
    }

    /** Σ ããᵀ (live, fp64). */
    public INDArray sumA() {
        return sumA;
    }

    /** Σ ggᵀ (live, fp64). */
    public INDArray sumG() {
        return sumG;
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

    /** Folds in one block: a [n, in] inputs and g [n, out] output gradients of n labelled positions. */
    public void add(INDArray a, INDArray g, Precision precision) {
        if (a.rows() != g.rows() || a.columns() + (bias ? 1 : 0) != sumA.columns() || g.columns() != sumG.columns()) {
            throw new IllegalArgumentException(layer + ": block a" + java.util.Arrays.toString(a.shape()) + ", g"
                    + java.util.Arrays.toString(g.shape()) + " does not fit A " + sumA.columns() + ", G " + sumG.columns());
        }
        INDArray input = a.castTo(precision.blockType());
        if (bias) {
            input = Nd4j.hstack(input, Nd4j.ones(precision.blockType(), a.rows(), 1));
        }
        addSymmetric(sumA, input, precision);
        addSymmetric(sumG, g.castTo(precision.blockType()), precision);
        tokens += a.rows();
    }

    /** sum += xᵀx, computed as the upper triangle by SYRK and mirrored. */
    private static void addSymmetric(INDArray sum, INDArray x, Precision precision) {
        long n = x.columns();
        INDArray upper = Blas.syrkUpper(x, Nd4j.zeros(precision.blockType(), n, n), 1.0, 0.0);
        INDArray block = upper.add(upper.transpose()).subi(Nd4j.diag(Nd4j.diag(upper)));
        sum.addi(block.castTo(DataType.DOUBLE));
    }

    /** Adds another partial state of the same layer (data seen elsewhere or earlier). */
    public void merge(KfacFactor other) {
        if (!other.layer.equals(layer) || !java.util.Arrays.equals(other.sumA.shape(), sumA.shape())
                || !java.util.Arrays.equals(other.sumG.shape(), sumG.shape())) {
            throw new IllegalArgumentException("cannot merge factors of " + other.layer + " into " + layer);
        }
        sumA.addi(other.sumA);
        sumG.addi(other.sumG);
        tokens += other.tokens;
    }

    /** A = Σ ããᵀ / n (fp64, a new array). */
    public INDArray a() {
        return Workspaces.outside(() -> sumA.div(Math.max(tokens, 1)));
    }

    /** G = Σ ggᵀ / n (fp64, a new array). */
    public INDArray g() {
        return Workspaces.outside(() -> sumG.div(Math.max(tokens, 1)));
    }

    public KfacFactor copy() {
        return Workspaces.outside(() -> new KfacFactor(layer, bias, sumA.dup(), sumG.dup(), tokens));
    }
}
