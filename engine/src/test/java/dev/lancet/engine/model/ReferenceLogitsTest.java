package dev.lancet.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.Fixtures;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Logits of the first 32 valid tokens against fp64 PyTorch figures (reference.json, 6 significant digits). */
class ReferenceLogitsTest {

    static Stream<Arguments> models() {
        return Stream.of(
                Arguments.of(Fixtures.tinyLlama(), DataType.DOUBLE, 2e-5),
                Arguments.of(Fixtures.tinyLlama(), DataType.FLOAT, 2e-4),
                Arguments.of(Fixtures.tinyOpt(), DataType.DOUBLE, 2e-5),
                Arguments.of(Fixtures.tinyOpt(), DataType.FLOAT, 2e-4));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("models")
    void logitsMatchReference(Path modelDir, DataType dtype, double tolerance) {
        JsonNode ref = Fixtures.reference(modelDir).get("logits_first32_valid");
        int[] ids = new int[ref.get("ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = ref.get("ids").get(i).asInt();
        }
        try (Checkpoint checkpoint = Checkpoint.open(modelDir)) {
            INDArray logits = Transformer.load(checkpoint, dtype).logits(new TokenBatch(1, ids.length, ids));
            for (Iterator<Map.Entry<String, JsonNode>> it = ref.get("positions").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> position = it.next();
                INDArray row = logits.getRow(Integer.parseInt(position.getKey())).castTo(DataType.DOUBLE);
                JsonNode expected = position.getValue();
                int[] top = topIds(row, 5);
                int[] expectedTop = new int[5];
                for (int k = 0; k < 5; k++) {
                    expectedTop[k] = expected.get("top5_ids").get(k).asInt();
                    double want = expected.get("top5_logits").get(k).asDouble();
                    assertEquals(want, row.getDouble(expectedTop[k]), tolerance * Math.max(1, Math.abs(want)),
                            "logit of id " + expectedTop[k] + " at position " + position.getKey());
                }
                assertArrayEquals(expectedTop, top, "top-5 ids at position " + position.getKey());
                double[] values = row.toDoubleVector();
                double max = Arrays.stream(values).max().orElseThrow();
                double lse = max + Math.log(Arrays.stream(values).map(v -> Math.exp(v - max)).sum());
                double wantLse = expected.get("logsumexp").asDouble();
                assertEquals(wantLse, lse, tolerance * Math.abs(wantLse), "logsumexp at " + position.getKey());
            }
        }
    }

    private static int[] topIds(INDArray row, int k) {
        double[] values = row.toDoubleVector();
        return IntStream.range(0, values.length).boxed()
                .sorted((a, b) -> Double.compare(values[b], values[a])).limit(k).mapToInt(Integer::intValue).toArray();
    }
}
