package dev.lancet.actors.calibration;

import dev.lancet.actors.TestKits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

class GradientWorkerTest {

    private static final ActorTestKit testKit = TestKits.serializing();

    @AfterAll
    static void tearDown() {
        testKit.shutdownTestKit();
    }

    @Test
    void streamsEveryLinearLayerToItsBlockAndReportsTheLoss() {
        try (Checkpoint checkpoint = Checkpoint.open(Fixtures.tinyLlama());
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            Transformer model = Transformer.load(checkpoint, DataType.FLOAT);
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.validText()), 3, 16,
                    CalibrationSource.Sampling.SEQUENTIAL, 0);
            List<TestProbe<LayerActor.Command>> probes = new ArrayList<>();
            List<ActorRef<LayerActor.Command>> layers = new ArrayList<>();
            for (int b = 0; b < model.blocks().size(); b++) {
                TestProbe<LayerActor.Command> probe = testKit.createTestProbe();
                probes.add(probe);
                layers.add(probe.getRef());
            }
            ActorRef<GradientWorker.Command> worker = testKit.spawn(GradientWorker.create(model, source, 2, layers, new BlockPool()));
            TestProbe<CalibrationCoordinator.Command> coordinator = testKit.createTestProbe();
            worker.tell(new GradientWorker.Compute(1, coordinator.getRef()));
            CalibrationCoordinator.Computed computed = coordinator.expectMessageClass(CalibrationCoordinator.Computed.class);
            TokenBatch last = source.batch(1, 2);
            assertEquals(1, last.batch()); // the third window alone
            assertEquals(model.loss(last).nllSum(), computed.result().getLoss(), 1e-3);
            for (int b = 0; b < probes.size(); b++) {
                Set<String> seen = new HashSet<>();
                for (Linear l : model.blocks().get(b).linears()) {
                    LayerActor.Fold fold = (LayerActor.Fold) probes.get(b).receiveMessage();
                    assertEquals(1, fold.batch());
                    long in = model.parameters().get(fold.layer() + ".weight").size(1);
                    long out = model.parameters().get(fold.layer() + ".weight").size(0);
                    assertArrayEquals(new long[] {15, in}, fold.a().shape());
                    assertArrayEquals(new long[] {15, out}, fold.g().shape());
                    seen.add(fold.layer());
                }
                assertEquals(model.blocks().get(b).linears().stream().map(Linear::name).collect(java.util.stream.Collectors.toSet()), seen);
            }
        }
    }
}
