"""One router per resource; ``ROUTERS`` is what ``create_app`` mounts."""

from umm_api.routes import (
                            admin,
                            allocation,
                            contributions,
                            data_quality,
                            diagnostics,
                            experiment_plan,
                            health,
                            history,
                            partitions,
                            reconciliation,
                            response_curves,
                            roas,
                            scenarios,
)

ROUTERS = [health.router, partitions.router, roas.router, contributions.router, response_curves.router,
           reconciliation.router, history.router, allocation.router, scenarios.router, experiment_plan.router,
           diagnostics.router, data_quality.router, admin.router]
