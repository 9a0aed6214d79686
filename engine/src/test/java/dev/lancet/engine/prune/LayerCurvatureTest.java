package dev.lancet.engine.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.linalg.NotPositiveDefiniteException;
import dev.lancet.engine.nn.Linear;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/** Curvature that cannot be used fails with a message naming the layer and the problem, never a crash or NaN. */
class LayerCurvatureTest {

    private final Linear layer = new Linear("model.layers.3.mlp.up_proj",
            Nd4j.createFromArray(new double[][] {{1, 2}, {3, 4}, {5, 6}}), null, true);

    @Test
    void aFactorThatStaysIndefiniteAfterDampingIsAClearException() {
        double[][] indefinite = {{1, 2, 0}, {2, 1, 0}, {0, 0, 1}};
        try (KfacFactor factor = KfacFactor.fromMeans(layer.name(), false, Nd4j.eye(2).castTo(DataType.DOUBLE),
                Nd4j.createFromArray(indefinite), 10)) {
            NotPositiveDefiniteException e = assertThrows(NotPositiveDefiniteException.class,
                    () -> LayerCurvature.of(PruneMethod.SURGEON, factor, layer, new Damping(0.1, 0.1)));
            assertTrue(e.getMessage().startsWith("model.layers.3.mlp.up_proj: G + 0.1·mean(diag G)·I is not positive "
                    + "definite"), e.getMessage());
            // K-OBD inverts nothing, so the same factor serves it
            try (LayerCurvature c = LayerCurvature.of(PruneMethod.K_OBD, factor, layer, new Damping(0.1, 0.1))) {
                assertEquals(3, c.rows());
            }
        }
    }

    @Test
    void aFactorOfAnotherShapeOrWithNaNIsRefused() {
        try (KfacFactor wrong = KfacFactor.fromMeans("other", false, Nd4j.eye(3).castTo(DataType.DOUBLE),
                Nd4j.eye(3).castTo(DataType.DOUBLE), 10)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LayerCurvature.of(PruneMethod.SURGEON, wrong, layer, Damping.STRUCTURED));
            assertTrue(e.getMessage().contains("does not fit layer model.layers.3.mlp.up_proj [3, 2]"), e.getMessage());
        }
        try (KfacFactor nan = KfacFactor.fromMeans(layer.name(), false,
                Nd4j.createFromArray(new double[][] {{1, Double.NaN}, {Double.NaN, 1}}), Nd4j.eye(3).castTo(DataType.DOUBLE),
                10)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LayerCurvature.of(PruneMethod.SPARSEGPT, nan, layer, Damping.STRUCTURED));
            assertTrue(e.getMessage().contains("non-finite"), e.getMessage());
        }
    }

    @Test
    void magnitudeNeedsNoFactor() {
        try (LayerCurvature c = LayerCurvature.of(PruneMethod.MAGNITUDE, null, layer, Damping.STRUCTURED)) {
            assertEquals(0.5 * (9 + 16), LayerCosts.rows(c, layer)[1], 1e-15);
        }
    }
}
