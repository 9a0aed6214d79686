package dev.lancet.engine.llmpruner;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.eval.Perplexity;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.engine.text.Windows;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The paper's ordering on the embedded models at 15% of all parameters (the reference's defaults: 10 windows of 64,
 * summation): gradient-based Element¹ and Element² leave a lower perplexity than magnitude (L2) and random groups.
 * Measured on the first 64 validation windows of 128.
 */
class TaylorQualityTest {

    @Test
    void tinyLlamaElementWiseBeatsMagnitudeAndRandom() {
        ordering(Fixtures.tinyLlama());
    }

    @Test
    void tinyOptElementWiseBeatsMagnitudeAndRandom() {
        ordering(Fixtures.tinyOpt());
    }

    private static void ordering(Path modelDir) {
        Map<Importance, Double> perplexity = new EnumMap<>(Importance.class);
        try (Checkpoint checkpoint = Checkpoint.open(modelDir);
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.calibrationText()), 10, 64,
                    CalibrationSource.Sampling.RANDOM, 0);
            Windows eval = Windows.read(tokenizer, Fixtures.validText(), 128, 64);
            for (Importance importance : List.of(Importance.ELEMENT1, Importance.ELEMENT2, Importance.L2,
                    Importance.RANDOM)) {
                Transformer model = Transformer.load(checkpoint, DataType.FLOAT);
                long remove = Math.round(0.15 * model.parameterCount());
                TaylorSettings settings = new TaylorSettings(Strategy.BLOCKS, importance, Aggregation.SUM, null, 0);
                try (TaylorGradients gradients = importance.needsGradients()
                        ? TaylorGradients.of(model, source, importance.needsFisher(), 8, n -> { }) : null) {
                    model = TaylorScoresTest.edit(TaylorSelection.select(model, remove, settings, gradients))
                            .applyTo(model);
                }
                try (Transformer pruned = model) {
                    perplexity.put(importance, Perplexity.evaluate(pruned, eval, 8).perplexity());
                }
            }
        }
        for (Importance gradientBased : List.of(Importance.ELEMENT1, Importance.ELEMENT2)) {
            for (Importance baseline : List.of(Importance.L2, Importance.RANDOM)) {
                assertTrue(perplexity.get(gradientBased) < perplexity.get(baseline),
                        gradientBased + " vs " + baseline + ": " + perplexity);
            }
        }
    }
}
