package dev.lancet.engine.linalg;

import static org.bytedeco.openblas.global.openblas.LAPACKE_dsyevd;
import static org.bytedeco.openblas.global.openblas.LAPACK_COL_MAJOR;

import org.bytedeco.javacpp.DoublePointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Eigendecomposition of a symmetric fp64 matrix through LAPACKE {@code dsyevd} (divide and conquer), called
 * directly as {@link Cholesky} does; the caller's thread needs a deep native stack (-Xss16m).
 *
 * <p>Column-major LAPACK reads a row-major symmetric matrix as itself and writes eigenvector j into its column j,
 * which row-major storage sees as row j: the rows of the result are the eigenvectors, by ascending eigenvalue.
 */
public final class SymmetricEigen {

    /** Eigenvalues, descending, and the matching unit eigenvectors as the columns of {@code vectors}. */
    public record Decomposition(double[] values, INDArray vectors) {
    }

    private SymmetricEigen() {
    }

    /** Decomposes the symmetric matrix {@code m} (left unchanged), largest eigenvalue first. */
    public static Decomposition descending(INDArray m) {
        if (m.rank() != 2 || m.size(0) != m.size(1)) {
            throw new IllegalArgumentException("expected a square matrix, got " + m.shapeInfoToString());
        }
        int n = (int) m.size(0);
        INDArray work = m.castTo(DataType.DOUBLE).dup('c');
        INDArray ascending = Nd4j.createUninitialized(DataType.DOUBLE, n);
        int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, (byte) 'V', (byte) 'U', n,
                new DoublePointer(work.data().addressPointer()), n,
                new DoublePointer(ascending.data().addressPointer()));
        if (info != 0) {
            throw new IllegalStateException(info < 0 ? "LAPACK dsyevd rejected argument " + (-info)
                    : "LAPACK dsyevd did not converge (" + info + " off-diagonal elements)");
        }
        double[] values = new double[n];
        int[] order = new int[n];
        for (int c = 0; c < n; c++) {
            order[c] = n - 1 - c;
            values[c] = ascending.getDouble(n - 1 - c);
        }
        INDArray vectors = Nd4j.pullRows(work, 1, order).transpose().dup('c');
        work.close();
        ascending.close();
        return new Decomposition(values, vectors);
    }
}
