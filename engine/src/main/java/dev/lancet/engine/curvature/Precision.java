package dev.lancet.engine.curvature;

import dev.lancet.engine.io.DType;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Arithmetic of the per-batch second-moment blocks. Running sums are always fp64; FP32 computes each
 * batch's block ΣaaT in fp32 (one rounding per block, relative error ≲ k·2⁻²⁴ for k rows, ~1e-6 here) before
 * adding it in fp64, at twice the GEMM speed; FP64 computes blocks in fp64 too (exact to ~1e-15).
 */
public enum Precision {
    FP32(DataType.FLOAT, DType.F32),
    FP64(DataType.DOUBLE, DType.F64);

    private final DataType blockType;
    private final DType fileType;

    Precision(DataType blockType, DType fileType) {
        this.blockType = blockType;
        this.fileType = fileType;
    }

    public DataType blockType() {
        return blockType;
    }

    /** The dtype factors are written in. */
    public DType fileType() {
        return fileType;
    }
}
