package dev.lancet.engine.linalg;

import static org.bytedeco.openblas.global.openblas.CblasLeft;
import static org.bytedeco.openblas.global.openblas.CblasLower;
import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasNonUnit;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dpotrf;
import static org.bytedeco.openblas.global.openblas.LAPACKE_dpotri;
import static org.bytedeco.openblas.global.openblas.LAPACK_COL_MAJOR;
import static org.bytedeco.openblas.global.openblas.cblas_dtrsm;

import java.nio.DoubleBuffer;
import org.bytedeco.javacpp.DoublePointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * fp64 symmetric positive definite matrices through LAPACKE and CBLAS directly, in place on contiguous row-major
 * ND4J arrays (ND4J's own Cholesky fails and its inverse is about 1000× slower). The caller's thread needs a deep
 * native stack (-Xss16m).
 *
 * <p>LAPACK is column-major, where a row-major buffer reads as its transpose; for a symmetric matrix the row-major
 * lower triangle is the column-major upper one. Calling LAPACKE column-major with 'U' therefore works on the
 * row-major lower triangle without the transposed copy LAPACKE's row-major mode would make of an n×n matrix.
 */
public final class Cholesky {

    private static final byte UPPER = 'U';

    private Cholesky() {
    }

    /**
     * Overwrites the lower triangle of the SPD matrix {@code m} with its factor L, m = L Lᵀ. Only the lower triangle
     * is read; the strict upper triangle is left as it was. {@code what} names the matrix in the exception.
     */
    public static void factor(INDArray m, String what) {
        int n = square(m);
        int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, UPPER, n, pointer(m), n);
        check(info, "dpotrf", what, n);
    }

    /** Overwrites a factor L (from {@link #factor}) with (L Lᵀ)⁻¹, both triangles: an SPD inverse, no general one. */
    public static void invert(INDArray factor, String what) {
        int n = square(factor);
        int info = LAPACKE_dpotri(LAPACK_COL_MAJOR, UPPER, n, pointer(factor), n);
        check(info, "dpotri", what, n);
        // dpotri wrote the lower triangle only: mirror it into the upper one
        DoubleBuffer values = factor.data().asNioDouble();
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < i; j++) {
                values.put(j * n + i, values.get(i * n + j));
            }
        }
    }

    /** Overwrites {@code b} [n, k] with (L Lᵀ)⁻¹ b: two triangular solves with the factor L from {@link #factor}. */
    public static void solve(INDArray factor, INDArray b) {
        int n = square(factor);
        if (b.rank() != 2 || b.size(0) != n || !contiguous(b) || b.dataType() != DataType.DOUBLE) {
            throw new IllegalArgumentException("right-hand sides must be a contiguous fp64 [" + n + ", k] array, got "
                    + b.shapeInfoToString());
        }
        int k = (int) b.size(1);
        DoublePointer l = pointer(factor);
        DoublePointer x = pointer(b);
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, n, k, 1.0, l, n, x, k);
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, n, k, 1.0, l, n, x, k);
    }

    private static void check(int info, String routine, String what, int n) {
        if (info > 0) {
            throw new NotPositiveDefiniteException(what + " is not positive definite: its leading minor of order "
                    + info + " of " + n + " is not positive (LAPACK " + routine + "); raise the damping");
        }
        if (info < 0) {
            throw new IllegalArgumentException("LAPACK " + routine + " rejected argument " + (-info) + " for " + what);
        }
    }

    private static int square(INDArray m) {
        if (m.rank() != 2 || m.size(0) != m.size(1) || m.dataType() != DataType.DOUBLE || !contiguous(m)) {
            throw new IllegalArgumentException("expected a contiguous square fp64 matrix, got " + m.shapeInfoToString());
        }
        return (int) m.size(0);
    }

    private static boolean contiguous(INDArray m) {
        // a single row or column may carry any stride along its length-1 axis (ND4J gives [1, 1] to a [1, n] row)
        return m.ordering() == 'c' && !m.isView() && (m.size(0) <= 1 || m.stride(0) == m.size(1))
                && (m.size(1) <= 1 || m.stride(1) == 1);
    }

    private static DoublePointer pointer(INDArray m) {
        return new DoublePointer(m.data().addressPointer());
    }
}
