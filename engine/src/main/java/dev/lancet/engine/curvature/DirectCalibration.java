package dev.lancet.engine.curvature;

import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.text.CalibrationSource;
import java.util.function.LongConsumer;
import org.nd4j.linalg.api.memory.MemoryWorkspace;

/**
 * Curvature in one plain loop: forward + backward per batch, each layer's (a, g) folded straight into the
 * state. The actor pipeline must give the same factors; this is also its speed baseline.
 */
public final class DirectCalibration {

    private DirectCalibration() {
    }

    public static void accumulate(Transformer model, CalibrationSource source, int batchSize, Precision precision,
                                  KfacState state, LongConsumer progress) {
        for (int b = 0; b < source.batches(batchSize); b++) {
            TokenBatch batch = source.batch(b, batchSize);
            model.lossAndBackward(batch, new Backprop(false, (layer, a, g) -> {
                // each fold's temporaries are recycled at once instead of piling up in the step's workspace
                try (MemoryWorkspace ignored = Workspaces.open(Workspaces.FOLD)) {
                    state.get(layer.name()).add(a, g, precision);
                }
            }, batch.labelledRows()));
            progress.accept((long) (b + 1) * batchSize);
        }
    }
}
