package dev.lancet.engine.prune;

import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Cholesky;
import dev.lancet.engine.linalg.Workspaces;
import java.nio.DoubleBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One Kronecker factor of a layer's curvature F ≈ G ⊗ A as the pruning math uses it: G over the layer's outputs
 * (rows of W̃) or A over its inputs (columns of W̃, the bias column last). It keeps the undamped matrix M (OBD
 * costs, and the numerators of OBS row and column costs, as the reference) and, for OBS, M_d⁻¹, the inverse of the
 * damped M_d = M + λI, λ = damp · mean of M's live diagonal, from M_d's Cholesky factor (dpotrf + dpotri). The
 * identity (magnitude pruning; G of SparseGPT) stores no matrix.
 *
 * <p>Index i is dead when M_ii = 0 (no signal ever reached it) or W̃ is all zero along it (removed by an earlier
 * shot). Row and column i of M_d become e_i: M_d⁻¹ on the live indices is then the inverse of M_d restricted to
 * them, which is what the reference computes after deleting the dead indices, and M_d⁻¹ never couples a dead index
 * to a live one, so live corrections never write into dead rows (G) or dead columns (A). This works with zero
 * damping too. Costs along a dead index are 0 ({@link #costScale}): dead structures go first.
 *
 * <p>All temporaries go to the caller's workspace; {@link #close} frees the two n×n matrices.
 */
final class DampedFactor implements AutoCloseable {

    private final int n;
    private final boolean[] dead;
    /** λ of M_d = M + λI (0 for the identity and for OBD). */
    private final double lambda;
    /** Undamped M; null for the identity. */
    private final INDArray matrix;
    /** M_d⁻¹; null for the identity, or for OBD, which never needs it. */
    private final INDArray inverse;
    private final DoubleBuffer inverseValues;

    private DampedFactor(boolean[] dead, double lambda, INDArray matrix, INDArray inverse) {
        this.n = dead.length;
        this.dead = dead;
        this.lambda = lambda;
        this.matrix = matrix;
        this.inverse = inverse;
        this.inverseValues = inverse == null ? null : inverse.data().asNioDouble();
    }

    /** The identity over n indices, dead where the weights are all zero along them. */
    static DampedFactor identity(boolean[] zeroWeights) {
        return new DampedFactor(zeroWeights.clone(), 0, null, null);
    }

    /**
     * Takes over the undamped fp64 {@code matrix} (allocated outside any workspace; freed here if this throws) and,
     * with {@code invert}, computes M_d⁻¹; {@code what} names the damped matrix in a
     * {@link dev.lancet.engine.linalg.NotPositiveDefiniteException}.
     */
    static DampedFactor of(INDArray matrix, boolean[] zeroWeights, double damp, boolean invert, String what) {
        try {
            int n = zeroWeights.length;
            if (matrix.rows() != n || matrix.columns() != n) {
                throw new IllegalArgumentException(what + ": factor is " + matrix.rows() + "×" + matrix.columns()
                        + ", the weights need " + n + "×" + n);
            }
            DoubleBuffer m = matrix.data().asNioDouble();
            for (int i = 0; i < n * n; i++) {
                if (!Double.isFinite(m.get(i))) {
                    throw new IllegalArgumentException(what + ": the curvature holds a non-finite value");
                }
            }
            boolean[] dead = new boolean[n];
            double liveSum = 0;
            int live = 0;
            for (int i = 0; i < n; i++) {
                dead[i] = zeroWeights[i] || m.get(i * n + i) == 0;
                if (!dead[i]) {
                    liveSum += m.get(i * n + i);
                    live++;
                }
            }
            if (!invert) {
                return new DampedFactor(dead, 0, matrix, null);
            }
            double lambda = live == 0 ? 0 : damp * liveSum / live;
            return new DampedFactor(dead, lambda, matrix, dampedInverse(matrix, dead, lambda, what));
        } catch (RuntimeException e) {
            matrix.close();
            throw e;
        }
    }

    /** (M + λI)⁻¹ with every dead index decoupled (its row and column e_i), through the Cholesky factor. */
    private static INDArray dampedInverse(INDArray matrix, boolean[] dead, double lambda, String what) {
        int n = dead.length;
        INDArray damped = Workspaces.outside(() -> matrix.dup('c'));
        try {
            DoubleBuffer d = damped.data().asNioDouble();
            for (int i = 0; i < n; i++) {
                if (dead[i]) {
                    for (int j = 0; j < n; j++) {
                        d.put(i * n + j, 0);
                        d.put(j * n + i, 0);
                    }
                    d.put(i * n + i, 1);
                } else {
                    d.put(i * n + i, d.get(i * n + i) + lambda);
                }
            }
            Cholesky.factor(damped, what);
            Cholesky.invert(damped, what);
            return damped;
        } catch (RuntimeException e) {
            damped.close();
            throw e;
        }
    }

    int dim() {
        return n;
    }

    /** Whether this is the identity (no curvature along these indices). */
    boolean identity() {
        return matrix == null;
    }

    boolean dead(int i) {
        return dead[i];
    }

    /**
     * Per index, what removing along it weighs in a cost: OBS 1/[M_d⁻¹]_ii (ΔL = ½ w² / [F⁻¹]_qq), OBD M_ii (the
     * diagonal of the undamped curvature); 0 where dead.
     */
    double[] costScale(boolean obs) {
        double[] scale = new double[n];
        for (int i = 0; i < n; i++) {
            scale[i] = dead[i] ? 0 : obs ? 1 / inverseAt(i, i) : matrix == null ? 1 : matrix.getDouble(i, i);
        }
        return scale;
    }

    /** [M_d⁻¹]_ij. */
    double inverseAt(int i, int j) {
        if (matrix == null) {
            return i == j ? 1 : 0;
        }
        return requireInverse().get(i * n + j);
    }

    /** w M for w [k, n] (w itself for the identity). */
    INDArray timesRight(INDArray w) {
        return matrix == null ? w : Blas.gemm(w, false, matrix, false);
    }

    /** M w for w [n, k] (w itself for the identity). */
    INDArray timesLeft(INDArray w) {
        return matrix == null ? w : Blas.gemm(matrix, false, w, false);
    }

    /** x M_d⁻¹ for x [k, n] (x itself for the identity). */
    INDArray timesInverse(INDArray x) {
        if (matrix == null) {
            return x;
        }
        requireInverse();
        return Blas.gemm(x, false, inverse, false);
    }

    /** [M_d]_{idx, idx} = M_{idx, idx} + λI for live indices, a new contiguous [k, k] array. */
    INDArray dampedBlock(int[] idx) {
        int k = idx.length;
        INDArray block = Nd4j.createUninitialized(DataType.DOUBLE, k, k);
        DoubleBuffer b = block.data().asNioDouble();
        DoubleBuffer m = matrix == null ? null : matrix.data().asNioDouble();
        for (int p = 0; p < k; p++) {
            for (int q = 0; q < k; q++) {
                double value = m == null ? (idx[p] == idx[q] ? 1 : 0) : m.get(idx[p] * n + idx[q]);
                b.put(p * k + q, p == q ? value + lambda : value);
            }
        }
        return block;
    }

    /** M[idx, :] v for v [n, 1]: off-diagonal products of M, where the damping adds nothing. */
    INDArray rowsTimes(int[] idx, INDArray v) {
        return matrix == null ? v.getRows(idx) : Blas.gemm(matrix.getRows(idx), false, v, false);
    }

    /** [M_d⁻¹]_{idx, idx}, a new contiguous [k, k] array. */
    INDArray inverseBlock(int[] idx) {
        int k = idx.length;
        INDArray block = Nd4j.createUninitialized(DataType.DOUBLE, k, k);
        DoubleBuffer b = block.data().asNioDouble();
        for (int p = 0; p < k; p++) {
            for (int q = 0; q < k; q++) {
                b.put(p * k + q, inverseAt(idx[p], idx[q]));
            }
        }
        return block;
    }

    /** target [n, m] += alpha · M_d⁻¹[:, idx] x for x [k, m]: a correction spread over every row of W̃ by G. */
    void addInverseColumnsTimes(INDArray target, int[] idx, INDArray x, double alpha) {
        if (matrix == null) {
            scatterAdd(target, idx, x, alpha, true);
            return;
        }
        requireInverse();
        // M_d⁻¹ is symmetric: its columns idx are the transpose of its rows idx, which are contiguous
        Blas.gemm(inverse.getRows(idx), true, x, false, target, alpha, 1.0);
    }

    /** target [m, n] += alpha · xᵀ M_d⁻¹[idx, :] for x [k, m]: a correction spread over every column of W̃ by A. */
    void addTransposeTimesInverseRows(INDArray target, INDArray x, int[] idx, double alpha) {
        if (matrix == null) {
            scatterAdd(target, idx, x, alpha, false);
            return;
        }
        requireInverse();
        Blas.gemm(x, true, inverse.getRows(idx), false, target, alpha, 1.0);
    }

    /** The identity's case: row p of x lands on row idx[p] of target (or on its column idx[p]). */
    private static void scatterAdd(INDArray target, int[] idx, INDArray x, double alpha, boolean intoRows) {
        INDArray source = x.dup('c');
        DoubleBuffer t = target.data().asNioDouble();
        DoubleBuffer s = source.data().asNioDouble();
        int width = (int) target.size(1);
        int m = (int) source.size(1);
        for (int p = 0; p < idx.length; p++) {
            for (int q = 0; q < m; q++) {
                int at = intoRows ? idx[p] * width + q : q * width + idx[p];
                t.put(at, t.get(at) + alpha * s.get(p * m + q));
            }
        }
    }

    private DoubleBuffer requireInverse() {
        if (inverseValues == null) {
            throw new IllegalStateException("OBD curvature has no damped inverse");
        }
        return inverseValues;
    }

    @Override
    public void close() {
        if (matrix != null) {
            matrix.close();
        }
        if (inverse != null) {
            inverse.close();
        }
    }
}
