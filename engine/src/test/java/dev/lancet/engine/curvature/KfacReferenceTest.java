package dev.lancet.engine.curvature;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.DerivedModel;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.CalibrationSource.Sampling;
import dev.lancet.engine.text.Tokenizer;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * KFAC factors of the first 4 sequential valid windows of 128 against the fp64 PyTorch reference: the shipped
 * models and the checkpoints derived from them for the other families (in fp64).
 */
class KfacReferenceTest {

    static Stream<Arguments> cases() {
        return Stream.concat(Stream.of(Arguments.of(Fixtures.tinyLlama(), DataType.DOUBLE, Precision.FP64, 1e-9),
                        Arguments.of(Fixtures.tinyOpt(), DataType.DOUBLE, Precision.FP64, 1e-9),
                        Arguments.of(Fixtures.tinyLlama(), DataType.FLOAT, Precision.FP32, 2e-4)),
                Stream.of(DerivedModel.values()).map(m -> Arguments.of(m.dir(), DataType.DOUBLE, Precision.FP64, 1e-9)));
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void factorsMatchReference(Path modelDir, DataType dtype, Precision precision, double tolerance) {
        JsonNode ref = Fixtures.reference(modelDir).get("kfac_valid_4x128_sequential");
        try (Checkpoint checkpoint = Checkpoint.open(modelDir);
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            Transformer model = Transformer.load(checkpoint, dtype);
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.validText()), 4, 128,
                    Sampling.SEQUENTIAL, 0);
            KfacState state = KfacState.empty(model.layout());
            DirectCalibration.accumulate(model, source, 3, precision, state, done -> { });
            assertEquals(model.linears().size(), ref.size());
            for (Iterator<Map.Entry<String, JsonNode>> it = ref.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                KfacFactor f = state.get(e.getKey());
                JsonNode want = e.getValue();
                assertEquals(want.get("n").asLong(), f.tokens());
                INDArray a = f.a();
                INDArray g = f.g();
                long last = a.rows() - 1;
                check(want, "A_trace", Nd4j.diag(a).sumNumber().doubleValue(), tolerance, e.getKey());
                check(want, "A_fro", a.norm2Number().doubleValue(), tolerance, e.getKey());
                check(want, "A_00", a.getDouble(0, 0), tolerance, e.getKey());
                check(want, "A_01", a.getDouble(0, 1), tolerance, e.getKey());
                check(want, "A_last", a.getDouble(last, last), tolerance, e.getKey());
                check(want, "G_trace", Nd4j.diag(g).sumNumber().doubleValue(), tolerance, e.getKey());
                check(want, "G_fro", g.norm2Number().doubleValue(), tolerance, e.getKey());
                check(want, "G_00", g.getDouble(0, 0), tolerance, e.getKey());
                check(want, "G_01", g.getDouble(0, 1), tolerance, e.getKey());
                check(want, "G_last", g.getDouble(g.rows() - 1, g.rows() - 1), tolerance, e.getKey());
            }
        }
    }

    /** Relative to the scale of the factor (its trace / dim), so tiny off-diagonals are not over-weighted. */
    private static void check(JsonNode want, String key, double got, double tolerance, String layer) {
        double expected = want.get(key).asDouble();
        double scale = Math.max(Math.abs(expected), Math.abs(want.get(key.charAt(0) + "_fro").asDouble()) * 1e-3);
        assertEquals(expected, got, tolerance * scale, layer + " " + key);
    }
}
