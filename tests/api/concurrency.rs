use reqwest::StatusCode;

use crate::helpers::TestApp;

async fn concurrent_creates_of_one_name_yield_exactly_one_201(app: TestApp) {
    let attempts = (0..12).map(|i| {
        let app = &app;
        async move {
            app.create_org(
                &format!("Race {}", if i % 2 == 0 { "Co" } else { "CO" }),
                &format!("r{i}@race.io"),
            )
            .await
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let conflicts = results
        .iter()
        .filter(|(s, body)| *s == StatusCode::CONFLICT && body["code"] == "organization_exists")
        .count();
    assert_eq!((created, conflicts), (1, 11), "{results:?}");
}

on_both_backends!(concurrent_creates_of_one_name_yield_exactly_one_201,);
