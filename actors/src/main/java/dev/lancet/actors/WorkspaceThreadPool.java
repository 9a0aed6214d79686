package dev.lancet.actors;

import com.typesafe.config.Config;
import dev.lancet.engine.linalg.Workspaces;
import java.util.concurrent.ThreadFactory;
import org.apache.pekko.dispatch.DispatcherPrerequisites;
import org.apache.pekko.dispatch.ExecutorServiceFactory;
import org.apache.pekko.dispatch.ThreadPoolExecutorConfigurator;

/**
 * A dispatcher's thread pool (its {@code thread-pool-executor} settings) whose threads free their ND4J workspaces as
 * they end. Workspaces are per thread and sized on first use, which costs several batches' time: the actors of one
 * run after another (a job's shots) find the pool's threads warm, and the memory goes when the actor system does,
 * not at some later garbage collection. Named as a dispatcher's {@code executor} in conf/application.conf.
 */
public final class WorkspaceThreadPool extends ThreadPoolExecutorConfigurator {

    public WorkspaceThreadPool(Config dispatcher, DispatcherPrerequisites prerequisites) {
        super(dispatcher.getConfig("thread-pool-executor"), prerequisites);
    }

    @Override
    public ExecutorServiceFactory createExecutorServiceFactory(String id, ThreadFactory threads) {
        return super.createExecutorServiceFactory(id, work -> threads.newThread(() -> {
            try {
                work.run();
            } finally {
                Workspaces.releaseThread();
            }
        }));
    }
}
