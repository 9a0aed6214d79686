package dev.lancet.engine.lora;

import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.nn.Adapter;
import dev.lancet.engine.nn.Linear;
import java.util.List;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One LoRA adapter on a frozen linear layer: Δy = s·B·A·drop(x), s = α/r, A [r, in] (PEFT's init: uniform
 * ±1/√in, seeded), B [out, r] (zeros, so training starts at the base model).
 *
 * <p>With u = drop(x)·Aᵀ [n, r] and g = dL/dy [n, out] (the pair the layer's backward already has):
 * dB = s·gᵀu, dA = (s·g·B)ᵀ·drop(x), dx = drop'(s·g·B·A).
 *
 * <p>Pruned weights stay pruned: when the base weight's zeros are whole rows and columns, those rows of B and columns
 * of A start at zero and their gradients are masked, so B·A is exactly zero there and the adapter stays low-rank.
 * Any other zero pattern (2:4, unstructured) trains the masked update ΔW = s·(B·A)⊙M, M = (W ≠ 0), at the cost of
 * a dense product: dB = G·Aᵀ, dA = Bᵀ·G with G = s·(gᵀ·drop(x))⊙M. Merging adds ΔW masked the same way.
 */
final class LoraLayer implements Adapter {

    private final Linear layer;
    private final int index;
    private final double scale;
    private final Dropout dropout;
    private final INDArray a;
    private final INDArray b;
    private final INDArray gradA;
    private final INDArray gradB;
    /** Kept rows of W [out] or null when all are; kept columns [in] or null; or the element mask [out, in]. */
    private final INDArray rowKeep;
    private final INDArray columnKeep;
    private final INDArray elementKeep;

    LoraLayer(Linear layer, int index, LoraSettings settings, Dropout dropout) {
        this.layer = layer;
        this.index = index;
        this.scale = settings.scale();
        this.dropout = dropout;
        int in = layer.inFeatures();
        int out = layer.outFeatures();
        int r = settings.rank();
        DataType dtype = layer.weight().dataType();
        INDArray[] masks = Workspaces.outside(() -> keepMasks(layer.weight()));
        rowKeep = masks[0];
        columnKeep = masks[1];
        elementKeep = masks[2];
        double bound = 1 / Math.sqrt(in);
        SplittableRandom random = new SplittableRandom(settings.seed() * 0x9E3779B97F4A7C15L + index);
        double[] init = new double[r * in];
        for (int i = 0; i < init.length; i++) {
            init[i] = random.nextDouble(-bound, bound);
        }
        a = Workspaces.outside(() -> Nd4j.createFromArray(init).reshape('c', r, in).castTo(dtype));
        if (columnKeep != null) {
            a.muliRowVector(columnKeep);
        }
        b = Workspaces.outside(() -> Nd4j.zeros(dtype, out, r));
        gradA = Workspaces.outside(a::ulike);
        gradB = Workspaces.outside(b::ulike);
        zeroGradients();
    }

    /** {row keep, column keep, element keep}, each null when not needed. */
    private static INDArray[] keepMasks(INDArray weight) {
        INDArray nonZero = weight.neq(0).castTo(weight.dataType());
        long total = nonZero.sumNumber().longValue();
        if (total == weight.length()) {
            nonZero.close();
            return new INDArray[3];
        }
        INDArray rows = nonZero.sum(1).gt(0).castTo(weight.dataType());
        INDArray columns = nonZero.sum(0).gt(0).castTo(weight.dataType());
        long keptRows = rows.sumNumber().longValue();
        long keptColumns = columns.sumNumber().longValue();
        if (total != keptRows * keptColumns) {
            return new INDArray[] {null, null, nonZero};
        }
        return new INDArray[] {keptRows < weight.size(0) ? rows : null, keptColumns < weight.size(1) ? columns : null,
                null};
    }

    Linear layer() {
        return layer;
    }

    INDArray a() {
        return a;
    }

    INDArray b() {
        return b;
    }

    INDArray gradA() {
        return gradA;
    }

    INDArray gradB() {
        return gradB;
    }

    /** Whether the base weight has zeros that are not whole rows and columns (the dense masked path). */
    boolean elementMasked() {
        return elementKeep != null;
    }

    @Override
    public INDArray forward(INDArray x) {
        INDArray mask = dropout.mask(index, x.size(0), x.size(1), x.dataType());
        INDArray dropped = mask == null ? x : x.mul(mask);
        if (elementKeep != null) {
            return Blas.gemm(dropped, false, delta(), true);
        }
        return Blas.gemm(Blas.gemm(dropped, false, a, true), false, b, true).muli(scale);
    }

    @Override
    public INDArray backward(INDArray x, INDArray dy) {
        INDArray mask = dropout.mask(index, x.size(0), x.size(1), x.dataType());
        INDArray dropped = mask == null ? x : x.mul(mask);
        INDArray dDropped;
        if (elementKeep != null) {
            INDArray g = Blas.gemm(dy, true, dropped, false).muli(scale).muli(elementKeep);
            Blas.gemm(g, false, a, true, gradB, 1.0, 1.0);
            Blas.gemm(b, true, g, false, gradA, 1.0, 1.0);
            dDropped = Blas.gemm(dy, false, delta(), false);
        } else {
            INDArray u = Blas.gemm(dropped, false, a, true);
            Blas.gemm(dy, true, u, false, gradB, scale, 1.0);
            INDArray du = Blas.gemm(dy, false, b, false).muli(scale);
            Blas.gemm(du, true, dropped, false, gradA, 1.0, 1.0);
            dDropped = Blas.gemm(du, false, a, false);
        }
        return mask == null ? dDropped : dDropped.muli(mask);
    }

    /** ΔW = s·B·A with the base weight's zeros kept, in the active workspace. */
    private INDArray delta() {
        INDArray delta = Blas.gemm(b, false, a, false).muli(scale);
        if (elementKeep != null) {
            delta.muli(elementKeep);
        }
        if (rowKeep != null) {
            delta.muliColumnVector(rowKeep);
        }
        if (columnKeep != null) {
            delta.muliRowVector(columnKeep);
        }
        return delta;
    }

    void zeroGradients() {
        gradA.assign(0);
        gradB.assign(0);
    }

    /** Scales the accumulated gradients (1 / tokens: the mean loss) and zeroes those of pruned rows and columns. */
    void finishGradients(double factor) {
        gradA.muli(factor);
        gradB.muli(factor);
        if (rowKeep != null) {
            gradB.muliColumnVector(rowKeep);
        }
        if (columnKeep != null) {
            gradA.muliRowVector(columnKeep);
        }
    }

    /** W += ΔW, masked: zeros of W stay exactly zero. */
    void merge() {
        Workspaces.outside(() -> {
            INDArray delta = delta();
            layer.weight().addi(delta);
            delta.close();
            return null;
        });
    }

    void close() {
        for (INDArray array : List.of(a, b, gradA, gradB)) {
            array.close();
        }
        for (INDArray mask : new INDArray[] {rowKeep, columnKeep, elementKeep}) {
            if (mask != null) {
                mask.close();
            }
        }
    }
}
