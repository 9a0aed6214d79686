package dev.lancet.engine.linalg;

import static org.bytedeco.openblas.global.openblas.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas.CblasTrans;
import static org.bytedeco.openblas.global.openblas.CblasUpper;
import static org.bytedeco.openblas.global.openblas.cblas_dgemm;
import static org.bytedeco.openblas.global.openblas.cblas_dsyrk;
import static org.bytedeco.openblas.global.openblas.cblas_sgemm;
import static org.bytedeco.openblas.global.openblas.cblas_ssyrk;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * GEMM straight into OpenBLAS on ND4J's buffers. {@code Nd4j.gemm} goes through a generic custom op whose
 * fixed cost dominated the small per-head products and whose large products ran at a fraction of
 * OpenBLAS's speed (see BENCHMARKS.md); this path costs one JNI call.
 */
public final class Blas {

    /** Buffers are host memory only on ND4J's CPU backend; elsewhere (the cuda profile) ND4J's own GEMM is used. */
    private static final boolean HOST_BUFFERS = Nd4j.getBackend().getClass().getName().contains(".cpu.");

    /**
     * OpenBLAS threads per call, for the whole process: 1 unless {@code -Dlancet.blas.threads} says otherwise. Lancet
     * runs its work side by side on threads of its own (evaluation batches, gradient workers, prune workers), where
     * one-thread calls use the cores better than two-thread calls on these small products and never spin-wait for a
     * partner; and a call's bits then never depend on what else runs (OpenBLAS's thread count is process-wide, so
     * changing it around some calls changed other threads' calls mid-flight). BENCHMARKS.md, "Side by side".
     */
    public static final int THREADS = Integer.getInteger("lancet.blas.threads", 1);

    static {
        if (HOST_BUFFERS) {
            Nd4j.factory().blas().setMaxThreads(THREADS);
        }
    }

    private Blas() {
    }

    /** c = alpha · op(a) op(b) + beta · c for 2-D arrays; returns c. */
    public static INDArray gemm(INDArray a, boolean transposeA, INDArray b, boolean transposeB, INDArray c,
                                double alpha, double beta) {
        if (!HOST_BUFFERS) {
            return Nd4j.gemm(a, b, c, transposeA, transposeB, alpha, beta);
        }
        INDArray x = rowMajor(a);
        INDArray y = rowMajor(b);
        Shape s = Shape.of(x.size(0), x.size(1), transposeA, y.size(0), y.size(1), transposeB);
        check(x, y, c, s, c.rank() == 2 && c.size(0) == s.m && c.size(1) == s.n);
        call(c.dataType(), transposeA, transposeB, s, alpha, x.data().addressPointer(), 0, y.data().addressPointer(),
                0, beta, c.data().addressPointer(), 0);
        return c;
    }

    /** op(a) op(b) into a new array. */
    public static INDArray gemm(INDArray a, boolean transposeA, INDArray b, boolean transposeB) {
        long m = transposeA ? a.size(1) : a.size(0);
        long n = transposeB ? b.size(0) : b.size(1);
        return gemm(a, transposeA, b, transposeB, Nd4j.createUninitialized(a.dataType(), m, n), 1.0, 0.0);
    }

    /**
     * Batched over the leading axis: [n, r, k] × [n, k, c] → [n, r, c], one GEMM per slice, addressed by
     * pointer arithmetic: an ND4J slice view costs more than a small GEMM.
     */
    public static INDArray batchedGemm(INDArray a, boolean transposeA, INDArray b, boolean transposeB) {
        if (!HOST_BUFFERS) {
            return Nd4j.matmul(a, b, null, transposeA, transposeB, false);
        }
        INDArray x = rowMajor(a);
        INDArray y = rowMajor(b);
        Shape s = Shape.of(x.size(1), x.size(2), transposeA, y.size(1), y.size(2), transposeB);
        long batch = x.size(0);
        INDArray out = Nd4j.createUninitialized(a.dataType(), batch, s.m, s.n);
        check(x, y, out, s, y.size(0) == batch);
        Pointer xp = x.data().addressPointer();
        Pointer yp = y.data().addressPointer();
        Pointer op = out.data().addressPointer();
        long xStride = x.size(1) * x.size(2);
        long yStride = y.size(1) * y.size(2);
        long oStride = (long) s.m * s.n;
        for (long i = 0; i < batch; i++) {
            call(out.dataType(), transposeA, transposeB, s, 1.0, xp, i * xStride, yp, i * yStride, 0.0, op, i * oStride);
        }
        return out;
    }

    /**
     * The upper triangle (row-major) of c = alpha · aᵀa + beta · c for a [k, n] and the leading [n, n] block of
     * a square c [m, m], m ≥ n: half the FLOPs of the GEMM for the symmetric second-moment sums of KFAC. The
     * strict lower triangle and the rest of c are not touched.
     */
    public static INDArray syrkUpper(INDArray a, INDArray c, double alpha, double beta) {
        INDArray x = rowMajor(a);
        int k = Math.toIntExact(x.size(0));
        int n = Math.toIntExact(x.size(1));
        if (c.rank() != 2 || c.size(0) != c.size(1) || c.size(0) < n || c.dataType() != x.dataType() || !isRowMajor(c)) {
            throw new IllegalArgumentException("syrk needs a contiguous square output of at least [" + n + ", " + n
                    + "] of " + x.dataType() + ", got " + c.shapeInfoToString());
        }
        if (!HOST_BUFFERS) { // the full product; its upper triangle is the same
            Nd4j.gemm(x, x, c.get(NDArrayIndex.interval(0, n), NDArrayIndex.interval(0, n)), true, false, alpha, beta);
            return c;
        }
        int ldc = Math.toIntExact(c.size(1));
        switch (c.dataType()) {
            case FLOAT -> cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, (float) alpha,
                    new FloatPointer(x.data().addressPointer()), n, (float) beta,
                    new FloatPointer(c.data().addressPointer()), ldc);
            case DOUBLE -> cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, alpha,
                    new DoublePointer(x.data().addressPointer()), n, beta,
                    new DoublePointer(c.data().addressPointer()), ldc);
            default -> throw new IllegalArgumentException("syrk supports FLOAT and DOUBLE, not " + c.dataType());
        }
        return c;
    }

    /** m×k times k×n; lda/ldb are the stored row lengths of the operands. */
    private record Shape(int m, int n, int k, int lda, int ldb) {
        static Shape of(long aRows, long aCols, boolean ta, long bRows, long bCols, boolean tb) {
            long kb = tb ? bCols : bRows;
            long k = ta ? aRows : aCols;
            if (k != kb) {
                throw new IllegalArgumentException("gemm inner dimensions disagree: " + k + " vs " + kb);
            }
            return new Shape(Math.toIntExact(ta ? aCols : aRows), Math.toIntExact(tb ? bRows : bCols),
                    Math.toIntExact(k), Math.toIntExact(aCols), Math.toIntExact(bCols));
        }
    }

    private static void check(INDArray x, INDArray y, INDArray c, Shape s, boolean shapesAgree) {
        if (!shapesAgree || x.dataType() != y.dataType() || x.dataType() != c.dataType()) {
            throw new IllegalArgumentException("gemm shapes/dtypes disagree: " + x.shapeInfoToString() + " x "
                    + y.shapeInfoToString() + " -> " + c.shapeInfoToString() + " (" + s + ")");
        }
        if (!isRowMajor(c)) {
            throw new IllegalArgumentException("gemm output must be a contiguous row-major array");
        }
    }

    /** Offsets are in elements from each buffer's start (a view's buffer already starts at the view). */
    private static void call(DataType dtype, boolean ta, boolean tb, Shape s, double alpha, Pointer a, long aOffset,
                             Pointer b, long bOffset, double beta, Pointer c, long cOffset) {
        int transA = ta ? CblasTrans : CblasNoTrans;
        int transB = tb ? CblasTrans : CblasNoTrans;
        switch (dtype) {
            case FLOAT -> cblas_sgemm(CblasRowMajor, transA, transB, s.m, s.n, s.k, (float) alpha,
                    new FloatPointer(a).position(aOffset), s.lda, new FloatPointer(b).position(bOffset), s.ldb,
                    (float) beta, new FloatPointer(c).position(cOffset), s.n);
            case DOUBLE -> cblas_dgemm(CblasRowMajor, transA, transB, s.m, s.n, s.k, alpha,
                    new DoublePointer(a).position(aOffset), s.lda, new DoublePointer(b).position(bOffset), s.ldb,
                    beta, new DoublePointer(c).position(cOffset), s.n);
            default -> throw new IllegalArgumentException("gemm supports FLOAT and DOUBLE, not " + dtype);
        }
    }

    private static boolean isRowMajor(INDArray a) {
        long[] stride = a.stride();
        long expected = 1;
        for (int d = a.rank() - 1; d >= 0; d--) {
            if (a.size(d) > 1 && stride[d] != expected) {
                return false;
            }
            expected *= a.size(d);
        }
        return true;
    }

    private static INDArray rowMajor(INDArray a) {
        return isRowMajor(a) ? a : a.dup('c');
    }
}
