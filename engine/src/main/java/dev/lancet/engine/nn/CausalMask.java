package dev.lancet.engine.nn;

import dev.lancet.engine.linalg.Workspaces;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Additive causal masks [group·seq, seq]: row r (position r mod seq) may see columns ≤ its position.
 * A large finite negative instead of −∞ keeps fully-masked arithmetic free of NaN; exp underflows to 0.
 */
final class CausalMask {

    private record Key(int group, int seq, DataType dtype) {
    }

    private static final Map<Key, INDArray> CACHE = new ConcurrentHashMap<>();

    private CausalMask() {
    }

    static INDArray of(int group, int seq, DataType dtype) {
        return CACHE.computeIfAbsent(new Key(group, seq, dtype), key -> {
            double[] mask = new double[group * seq * seq];
            for (int row = 0; row < group * seq; row++) {
                int position = row % seq;
                for (int col = position + 1; col < seq; col++) {
                    mask[row * seq + col] = -1e30;
                }
            }
            return Workspaces.outside(() -> Nd4j.createFromArray(mask).reshape(group * seq, seq).castTo(dtype));
        });
    }
}
