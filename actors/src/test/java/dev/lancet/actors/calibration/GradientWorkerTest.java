package dev.lancet.actors.calibration;

import dev.lancet.actors.TestKits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

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

    /** Asks for the ND4J workspaces of the thread the asked actor runs on. */
    private record WhichWorkspaces(ActorRef<ThreadWorkspaces> replyTo) implements NoSerializationVerificationNeeded {
    }

    private record ThreadWorkspaces(String thread, List<String> workspaces) implements NoSerializationVerificationNeeded {
    }

    @Test
    void aStoppedWorkerLeavesNoWorkspaceOnItsThread() {
        try (Checkpoint checkpoint = Checkpoint.open(Fixtures.tinyLlama());
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            // not closed here: a failed assertion must not free the weights under a worker still computing
            Transformer model = Transformer.load(checkpoint, DataType.FLOAT);
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.validText()), 2, 16,
                    CalibrationSource.Sampling.SEQUENTIAL, 0);
            List<ActorRef<LayerActor.Command>> layers = new ArrayList<>();
            for (int b = 0; b < model.blocks().size(); b++) {
                layers.add(testKit.<LayerActor.Command>createTestProbe().getRef());
            }
            // the worker's dispatcher has one thread: an actor beside it sees that thread's workspaces
            DispatcherSelector workerThread = DispatcherSelector.fromConfig("lancet.worker-dispatcher");
            ActorRef<GradientWorker.Command> worker = testKit.spawn(
                    GradientWorker.create(model, source, 2, layers, new BlockPool()), "worker", workerThread);
            ActorRef<WhichWorkspaces> neighbour = testKit.spawn(Behaviors.receiveMessage(ask -> {
                ask.replyTo().tell(new ThreadWorkspaces(Thread.currentThread().getName(),
                        Nd4j.getWorkspaceManager().getAllWorkspacesIdsForCurrentThread()));
                return Behaviors.same();
            }), "neighbour", workerThread);
            TestProbe<ThreadWorkspaces> answers = testKit.createTestProbe();

            TestProbe<CalibrationCoordinator.Command> coordinator = testKit.createTestProbe();
            worker.tell(new GradientWorker.Compute(0, coordinator.getRef()));
            coordinator.expectMessageClass(CalibrationCoordinator.Computed.class, Duration.ofMinutes(1));
            neighbour.tell(new WhichWorkspaces(answers.getRef()));
            ThreadWorkspaces working = answers.receiveMessage();
            assertTrue(working.workspaces().contains(Workspaces.STEP), working.toString());

            testKit.stop(worker);
            neighbour.tell(new WhichWorkspaces(answers.getRef()));
            ThreadWorkspaces stopped = answers.receiveMessage();
            assertEquals(working.thread(), stopped.thread());
            assertFalse(stopped.workspaces().contains(Workspaces.STEP), stopped.toString());
            assertFalse(stopped.workspaces().contains(Workspaces.BLOCK), stopped.toString());
            testKit.stop(neighbour);
        }
    }
}
