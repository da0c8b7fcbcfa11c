//! `gateprobe serve`: the arguments made into [`crate::serve::ServeOptions`], then the service.

use gateprobe::outcome::Exit;

use super::load_options;
use crate::cli::ServeArgs;
use crate::serve::{self, ServeError, ServeOptions};

pub async fn run(args: ServeArgs) -> Exit {
    let options = (|| {
        Ok::<_, ServeError>(ServeOptions {
            load: load_options(&args.load),
            schedule: serve::parse_schedule(&args.schedule)?,
            jitter: args.jitter,
            listen: args.listen,
            trigger_token: serve::trigger_token(args.trigger_token_file.as_deref())?,
            watch_interval: args.watch_interval,
            alertmanager_urls: args.alertmanager_url.clone(),
            compare: args.compare.options(),
            shard: args.shard,
            labels: args.labels.iter().cloned().collect(),
        })
    })();
    let result = match options {
        Ok(options) => serve::serve(options).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Exit::Pass,
        Err(e) => {
            errln!("error: {e}");
            e.exit_code()
        }
    }
}
