package dev.lancet.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.lancet.engine.linalg.Workspaces;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A dispatcher on {@link WorkspaceThreadPool} (as lancet.worker-dispatcher is) keeps its threads, and their warm
 * workspaces, for the actors of one run after another, idle time between them included, and frees the workspaces
 * when the actor system ends its threads.
 */
class WorkspaceThreadPoolTest {

    /** Asks an actor for its thread and that thread's workspaces, opening the step workspace if told to. */
    private record Ask(boolean step, ActorRef<Seen> replyTo) implements NoSerializationVerificationNeeded {
    }

    private record Seen(Thread thread, List<String> workspaces, MemoryWorkspace step)
            implements NoSerializationVerificationNeeded {
    }

    @Test
    void threadsKeepTheirWorkspacesFromActorToActorAndFreeThemWhenTheSystemEnds() throws Exception {
        ActorTestKit kit = ActorTestKit.create(ConfigFactory.parseString("""
                pool-under-test {
                  type = Dispatcher
                  executor = "dev.lancet.actors.WorkspaceThreadPool"
                  thread-pool-executor.fixed-pool-size = 1
                  shutdown-timeout = 1h
                }""").withFallback(ConfigFactory.load()));
        DispatcherSelector pool = DispatcherSelector.fromConfig("pool-under-test");
        var asked = Behaviors.receiveMessage((Ask ask) -> {
            MemoryWorkspace step = null;
            if (ask.step()) {
                try (MemoryWorkspace ws = Workspaces.open(Workspaces.STEP)) {
                    Nd4j.create(DataType.FLOAT, 1024, 1024).addi(1);
                    step = ws;
                }
            }
            ask.replyTo().tell(new Seen(Thread.currentThread(),
                    Nd4j.getWorkspaceManager().getAllWorkspacesIdsForCurrentThread(), step));
            return Behaviors.same();
        });
        TestProbe<Seen> answers = kit.createTestProbe();

        ActorRef<Ask> first = kit.spawn(asked, "first", pool);
        first.tell(new Ask(true, answers.getRef()));
        Seen worked = answers.receiveMessage(Duration.ofSeconds(30));
        assertTrue(worked.step().getCurrentSize() > 0, "the step workspace holds memory");
        kit.stop(first);

        // longer than a dispatcher's default shutdown-timeout (1 s), after which its threads would end
        Thread.sleep(1500);
        ActorRef<Ask> next = kit.spawn(asked, "next", pool);
        next.tell(new Ask(false, answers.getRef()));
        Seen later = answers.receiveMessage(Duration.ofSeconds(30));
        assertEquals(worked.thread(), later.thread());
        assertTrue(later.workspaces().contains(Workspaces.STEP), later.toString());
        assertTrue(worked.step().getCurrentSize() > 0, "still warm for the next run");

        kit.shutdownTestKit();
        worked.thread().join(Duration.ofSeconds(30).toMillis());
        assertFalse(worked.thread().isAlive());
        assertEquals(0, worked.step().getCurrentSize(), "freed as the thread ended");
    }
}
