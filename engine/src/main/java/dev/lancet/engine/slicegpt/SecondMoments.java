package dev.lancet.engine.slicegpt;

import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.model.ResidualRotation;
import dev.lancet.engine.model.TokenBatch;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Where SliceGPT's PCA gets its statistics: the uncentred second moment H = Σ xᵀx (fp64, [width, width]) of a
 * place's signal over every calibration token, each signal computed through {@code model} as rotated so far. Lancet
 * streams them through the calibration actors (jobs); {@link #direct} is the plain loop.
 */
@FunctionalInterface
public interface SecondMoments {

    INDArray of(ResidualRotation model, Place place);

    /** One batch at a time, each signal recomputed from the tokens and added to a full fp64 H by GEMM. */
    static SecondMoments direct(List<TokenBatch> calibration) {
        return (model, place) -> {
            INDArray h = null;
            for (TokenBatch batch : calibration) {
                INDArray signal = place.signal(model, batch);
                INDArray x = signal.castTo(DataType.DOUBLE);
                if (h == null) {
                    h = Nd4j.zeros(DataType.DOUBLE, x.columns(), x.columns());
                }
                Blas.gemm(x, true, x, false, h, 1.0, 1.0);
                signal.close();
            }
            if (h == null) {
                throw new IllegalArgumentException("no calibration batches");
            }
            return h;
        };
    }
}
