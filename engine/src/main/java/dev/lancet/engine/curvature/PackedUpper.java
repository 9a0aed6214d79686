package dev.lancet.engine.curvature;

import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Workspaces;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.function.IntToDoubleFunction;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The upper triangle of a symmetric n×n fp64 matrix, packed row by row (n(n+1)/2 values): KFAC sums need no
 * more, and full storage would double the largest state Lancet keeps (2.3 GB → 1.2 GB for OPT-125M).
 * Row i starts at {@code i·n − i(i−1)/2}. Kept outside any workspace; {@link #close} frees it.
 */
final class PackedUpper implements AutoCloseable {

    private final int n;
    private final INDArray values;

    private PackedUpper(int n, INDArray values) {
        this.n = n;
        this.values = values;
    }

    static PackedUpper zeros(int n) {
        return new PackedUpper(n, Workspaces.outside(() -> Nd4j.zeros(DataType.DOUBLE, size(n))));
    }

    /** The upper triangle of a square {@code matrix} (assumed symmetric; the lower triangle is not read). */
    static PackedUpper of(INDArray matrix) {
        if (matrix.rank() != 2 || matrix.rows() != matrix.columns()) {
            throw new IllegalArgumentException("KFAC factors are square, got " + Arrays.toString(matrix.shape()));
        }
        int n = (int) matrix.rows();
        PackedUpper packed = new PackedUpper(n, Workspaces.outside(() -> Nd4j.createUninitialized(DataType.DOUBLE, size(n))));
        INDArray dense = matrix.dataType() == DataType.DOUBLE && !matrix.isView() && matrix.ordering() == 'c'
                ? matrix : matrix.castTo(DataType.DOUBLE).dup('c');
        DoubleBuffer from = dense.data().asNioDouble();
        DoubleBuffer to = packed.values.data().asNioDouble();
        for (int i = 0; i < n; i++) {
            to.put(packed.rowStart(i), from, i * n + i, n - i);
        }
        return packed;
    }

    private static long size(int n) {
        return (long) n * (n + 1) / 2;
    }

    private int rowStart(int i) {
        return Math.toIntExact((long) i * n - (long) i * (i - 1) / 2);
    }

    int dim() {
        return n;
    }

    /**
     * this[:d, :d] += xᵀx for x [rows, d], d ≤ n: one SYRK in x's precision (fp32 or fp64) into a temporary
     * in the current workspace, whose upper triangle is added in fp64.
     */
    void addGram(INDArray x) {
        int d = (int) x.columns();
        INDArray block = Blas.syrkUpper(x, Nd4j.createUninitialized(x.dataType(), d, d), 1.0, 0.0);
        if (block.dataType() == DataType.FLOAT) {
            FloatBuffer products = block.data().asNioFloat();
            addUpper(d, products::get);
        } else {
            DoubleBuffer products = block.data().asNioDouble();
            addUpper(d, products::get);
        }
    }

    /** Adds the upper triangle of a row-major d×d block read through {@code block}. */
    private void addUpper(int d, IntToDoubleFunction block) {
        DoubleBuffer sums = values.data().asNioDouble();
        for (int i = 0; i < d; i++) { // SYRK leaves the block's lower triangle unwritten
            int at = rowStart(i);
            for (int j = i; j < d; j++, at++) {
                sums.put(at, sums.get(at) + block.applyAsDouble(i * d + j));
            }
        }
    }

    /** this[i, j] += value for i ≤ j. */
    void add(int i, int j, double value) {
        DoubleBuffer sums = values.data().asNioDouble();
        int at = rowStart(i) + j - i;
        sums.put(at, sums.get(at) + value);
    }

    void addi(PackedUpper other) {
        if (other.n != n) {
            throw new IllegalArgumentException("cannot add a " + other.n + "-matrix to a " + n + "-matrix");
        }
        values.addi(other.values);
    }

    void muli(double factor) {
        values.muli(factor);
    }

    PackedUpper dup() {
        return new PackedUpper(n, Workspaces.outside(values::dup));
    }

    /** The full symmetric matrix, a new array in the current workspace (if any). */
    INDArray toSymmetric() {
        INDArray full = Nd4j.createUninitialized(DataType.DOUBLE, n, n);
        DoubleBuffer to = full.data().asNioDouble();
        DoubleBuffer from = values.data().asNioDouble();
        for (int i = 0; i < n; i++) {
            int at = rowStart(i);
            for (int j = i; j < n; j++, at++) {
                double v = from.get(at);
                to.put(i * n + j, v);
                to.put(j * n + i, v);
            }
        }
        return full;
    }

    /** Frees the native memory now; unusable afterwards. */
    @Override
    public void close() {
        values.close();
    }
}
