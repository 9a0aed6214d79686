package dev.lancet.engine.curvature;

import dev.lancet.engine.model.LinearLayout;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Running KFAC sums of one linear layer: Σ ããᵀ over its inputs (ã = [a; 1] when the layer has a bias) and
 * Σ ggᵀ over the gradients of the summed NLL with respect to its outputs, over {@code tokens} labelled
 * positions. Sums, not means, so that states merge by addition in any order; fp64 always.
 *
 * <p>Only the upper triangles are accumulated (SYRK: half a GEMM's work) and stored ({@link PackedUpper}: half
 * the memory); the full symmetric matrices are made when read. The sums are native memory (gigabytes for a
 * large model): whoever holds a factor {@link #close}s it when done, rather than waiting for a garbage
 * collection.
 */
public final class KfacFactor implements AutoCloseable {

    private final String layer;
    private final boolean bias;
    private final PackedUpper sumA;
    private final PackedUpper sumG;
    private long tokens;

    private KfacFactor(String layer, boolean bias, PackedUpper sumA, PackedUpper sumG, long tokens) {
        this.layer = layer;
        this.bias = bias;
        this.sumA = sumA;
        this.sumG = sumG;
        this.tokens = tokens;
    }

    /** An empty factor for a layer: A over its inputs (plus one for the bias), G over its outputs. */
    public static KfacFactor empty(LinearLayout layer) {
        return new KfacFactor(layer.name(), layer.bias(), PackedUpper.zeros(layer.inputsWithBias()),
                PackedUpper.zeros(layer.out()), 0);
    }

    /** Whether this factor holds sums of {@code layer}: same name, bias column and shapes. */
    public boolean fits(LinearLayout layer) {
        return this.layer.equals(layer.name()) && bias == layer.bias() && dimA() == layer.inputsWithBias()
                && dimG() == layer.out();
    }

    /** Adopts full symmetric running sums Σ ããᵀ, Σ ggᵀ (e.g. received from another node). */
    public static KfacFactor fromSums(String layer, boolean bias, INDArray sumA, INDArray sumG, long tokens) {
        return new KfacFactor(layer, bias, PackedUpper.of(sumA), PackedUpper.of(sumG), tokens);
    }

    /** Rebuilds running sums from stored means A, G over {@code tokens} positions. */
    public static KfacFactor fromMeans(String layer, boolean bias, INDArray a, INDArray g, long tokens) {
        KfacFactor factor = fromSums(layer, bias, a, g, tokens);
        factor.sumA.muli(tokens);
        factor.sumG.muli(tokens);
        return factor;
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
        return sumA.dim();
    }

    /** Rows of G: the layer's outputs. */
    public int dimG() {
        return sumG.dim();
    }

    /**
     * Folds in one block: a [n, in] inputs and g [n, out] output gradients of n labelled positions. With
     * {@link Precision#FP32} each block's products are one fp32 SYRK, added to the fp64 sums; temporaries go
     * to the current workspace.
     */
    public void add(INDArray a, INDArray g, Precision precision) {
        if (a.rows() != g.rows() || a.columns() + (bias ? 1 : 0) != dimA() || g.columns() != dimG()) {
            throw new IllegalArgumentException(layer + ": block a" + Arrays.toString(a.shape()) + ", g"
                    + Arrays.toString(g.shape()) + " does not fit A " + dimA() + ", G " + dimG());
        }
        INDArray input = a.castTo(precision.blockType());
        sumA.addGram(input);
        sumG.addGram(g.castTo(precision.blockType()));
        if (bias) {
            // ã = [a; 1]: the last column of Σ ããᵀ is Σ a, its corner the count (no copy of a with a 1 column)
            int in = (int) a.columns();
            INDArray columnSums = input.sum(0).castTo(DataType.DOUBLE);
            for (int i = 0; i < in; i++) {
                sumA.add(i, in, columnSums.getDouble(i));
            }
            sumA.add(in, in, a.rows());
        }
        tokens += a.rows();
    }

    /** Adds another partial state of the same layer (data seen elsewhere or earlier). */
    public void merge(KfacFactor other) {
        if (!other.layer.equals(layer) || other.dimA() != dimA() || other.dimG() != dimG()) {
            throw new IllegalArgumentException("cannot merge factors of " + other.layer + " into " + layer);
        }
        sumA.addi(other.sumA);
        sumG.addi(other.sumG);
        tokens += other.tokens;
    }

    /** Σ ããᵀ (fp64, a new symmetric array in the current workspace, if any). */
    public INDArray sumA() {
        return sumA.toSymmetric();
    }

    /** Σ ggᵀ (fp64, a new symmetric array in the current workspace, if any). */
    public INDArray sumG() {
        return sumG.toSymmetric();
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
        return new KfacFactor(layer, bias, sumA.dup(), sumG.dup(), tokens);
    }

    /** Frees the sums' native memory now; the factor must not be used afterwards. */
    @Override
    public void close() {
        sumA.close();
        sumG.close();
    }
}
