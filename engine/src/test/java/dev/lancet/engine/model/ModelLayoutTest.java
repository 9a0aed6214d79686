package dev.lancet.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.proto.ModelLayoutProto;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

/** The layout read from config.json against the tensors it describes, and its wire form. */
class ModelLayoutTest {

    @TempDir
    Path tmp;

    @Test
    void layoutDescribesEveryTensorOfTheModel() {
        Path gqa = tmp.resolve("gqa");
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec("llama", 97, 48, 48, 2, 6, 2, 40, 64, true, false, false,
                DType.F32, 0.2, 5), gqa);
        for (Path dir : List.of(Fixtures.tinyOpt(), Fixtures.tinyLlama(), gqa)) {
            try (Checkpoint checkpoint = Checkpoint.open(dir);
                 Transformer model = Transformer.load(checkpoint, DataType.FLOAT)) {
                ModelLayout layout = checkpoint.layout();
                assertEquals(model.linears().size(), layout.linears().size());
                for (int i = 0; i < model.linears().size(); i++) {
                    var linear = model.linears().get(i);
                    LinearLayout described = layout.linears().get(i);
                    assertEquals(linear.name(), described.name());
                    assertEquals(linear.inFeatures(), described.in());
                    assertEquals(linear.outFeatures(), described.out());
                    assertEquals(linear.bias() != null, described.bias());
                    assertEquals(i / layout.block(0).linears().size(), layout.blockOf(linear.name()));
                }
                assertEquals(layout, ModelLayout.fromProto(ModelLayoutProto.parseFrom(layout.toProto().toByteArray())));
            } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                throw new AssertionError(e);
            }
        }
        try (Checkpoint checkpoint = Checkpoint.open(gqa)) {
            BlockLayout block = checkpoint.layout().block(1);
            assertEquals(3, block.group());
            assertEquals(16, block.linear(LinearRole.K).out());
            assertEquals(49, block.linear(LinearRole.K).inputsWithBias());
        }
    }

    @Test
    void aNodeRebuildsTheModelOnlyFromTheLayoutItWasGiven() {
        try (Checkpoint checkpoint = Checkpoint.open(Fixtures.tinyLlama())) {
            ModelLayout fewerChannels = new StructuralEdit().dropChannels(0, List.of(0))
                    .check(checkpoint.config(), checkpoint.names(), checkpoint.layout());
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> Transformer.load(checkpoint, fewerChannels, DataType.FLOAT));
            assertTrue(e.getMessage().contains("layout differs"), e.getMessage());
            try (Transformer model = Transformer.load(checkpoint, checkpoint.layout(), DataType.FLOAT)) {
                assertEquals(4, model.blocks().size());
            }
        }
    }
}
