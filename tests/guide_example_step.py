from orchestrator_core import BaseScriptlet
from orchestrator_core import Context
import json, sys, argparse

class ExampleStep(BaseScriptlet):
    def validate(self, ctx, params):
        if "input" not in params: raise ValueError("input required")

    def run(self, ctx, params):
        try:
            self.validate(ctx, params)
            result = {"echo": params["input"]}
            ctx.set("example.echo_v1", result, who="example_step")
            print(json.dumps({"status":"ok","outputs":["example.echo_v1"]}))
            return 0
        except Exception as e:
            print(json.dumps({"status":"error","reason":str(e),"exit_code":1,"step":"example_step"}))
            return 1

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", required=True)
    p = json.loads(ap.parse_args().params)
    sys.exit(ExampleStep().run(Context(), p))
